"""What running one notebook cell asks of the student's process, and what the report keeps of its reply."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

from autograder.running import replies
from autograder.running.notebook import Cell

_PNG = b"\x89PNG\r\n\x1a\n"


@dataclass
class CellOutcome:
    cell: Cell
    error: dict | None = None
    fatal: str | None = None  # the cell hung or killed its process: it is skipped on restart
    skipped_lines: list[str] = field(default_factory=list)
    stdout: str = ""  # what it printed (the first output_bytes), for the student's own view of their notebook
    printed: int = 0  # characters it printed in all
    figures: list[bytes] = field(default_factory=list)  # PNG images of the figures it drew


def run_cell(cell: Cell, keep: int) -> dict:
    """The request that runs ``cell``, keeping the first ``keep`` characters it prints (0 when replayed)."""
    return {"op": "run_cell", "label": cell.label, "source": cell.source, "keep": keep}


def record(outcome: CellOutcome, reply: dict) -> None:
    """What a cell did, from its reply (checked and capped by ``replies.checked``); figures must be PNGs."""
    outcome.skipped_lines = reply.get("skipped", [])
    outcome.stdout = reply.get("stdout", "")
    outcome.printed = reply.get("printed", len(outcome.stdout))
    for image in reply.get("figures", []):
        try:
            data = base64.b64decode(image, validate=True)
        except ValueError:
            continue
        if data.startswith(_PNG) and len(data) <= replies.FIGURE_BYTES:
            outcome.figures.append(data)
    if not reply["ok"]:
        outcome.error = reply["error"]
