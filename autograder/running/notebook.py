"""Read and validate a submitted notebook, and pick the cells to run.

Every problem becomes a ``NotebookError`` whose message names the file and says what is wrong in one line:
the CLI prints it as is, never a traceback.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

# jsonschema imports rfc3987_syntax when installed (jupyter-events pulls it in) to check IRI formats, which no
# notebook field uses; building its grammar costs ~3 s per process, more than grading a week. Keep it out.
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]

import nbformat  # noqa: E402

MAX_NOTEBOOK_BYTES = 50 * 1024 * 1024
SKIP_TAG = "dlgrade-skip"
"""Cells with this tag are not run while grading (e.g. a long training loop with its own graded output)."""


class NotebookError(Exception):
    """The file cannot be graded at all; the message is one line that names it."""


@dataclass(frozen=True)
class Cell:
    """One code cell to run. ``label`` is how the student finds it: by the part it answers, or by the cell it follows,
    never by a position that counts markdown cells the student does not count."""

    index: int  # its position among all the notebook's cells, from 1
    source: str
    grade_id: str | None = None
    answer: bool = False  # an nbgrader answer cell: the student's code
    after: str | None = None  # the grade_id of the nearest cell above that has one

    @property
    def label(self) -> str:
        if self.grade_id and self.answer:
            return f"your answer cell `{self.grade_id}`"
        if self.grade_id:
            return f"the cell `{self.grade_id}`"
        return f"the cell you added after `{self.after}`" if self.after else "the cell you added at the top"


def read_notebook(path: Path, raw: bytes | None = None) -> nbformat.NotebookNode:
    """The notebook at ``path`` (or its bytes ``raw``, read already) as nbformat 4, or NotebookError saying why it
    cannot be read."""
    if raw is None:
        if not path.exists():
            raise NotebookError(f"{path}: no such file")
        if not path.is_file():
            raise NotebookError(f"{path}: not a file")
        if path.stat().st_size <= MAX_NOTEBOOK_BYTES:
            raw = path.read_bytes()
    size = len(raw) if raw is not None else path.stat().st_size
    if size == 0:
        raise NotebookError(f"{path}: the file is empty, not a notebook")
    if raw is None or size > MAX_NOTEBOOK_BYTES:
        raise NotebookError(f"{path}: {size} bytes is larger than the {MAX_NOTEBOOK_BYTES}-byte limit for a notebook")
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise NotebookError(f"{path}: binary data, not a notebook (a .ipynb file is JSON text)") from None
    except json.JSONDecodeError as exc:
        raise NotebookError(f"{path}: not a notebook: invalid JSON at line {exc.lineno}: {exc.msg}") from None
    if not isinstance(data, dict) or "cells" not in data and "worksheets" not in data:
        raise NotebookError(f"{path}: JSON, but not a notebook (no cells)")
    try:
        notebook = nbformat.reads(raw.decode("utf-8"), as_version=4)
    except Exception as exc:  # noqa: BLE001 - nbformat raises several unrelated types for bad input
        raise NotebookError(f"{path}: not a valid notebook: {_first_line(exc)}") from None
    for cell in notebook.cells:
        if cell.get("cell_type") == "code" and not isinstance(cell.get("source"), str):
            raise NotebookError(f"{path}: a code cell has no source text")
    return notebook


def code_cells(notebook: nbformat.NotebookNode) -> list[Cell]:
    """The code cells to run while grading, in order.

    Skipped: nbgrader test cells (``grade: true`` without ``solution``), which hold self-checks the graders
    re-ask themselves, and cells tagged ``dlgrade-skip``.
    """
    cells, after = [], None
    for position, cell in enumerate(notebook.cells, start=1):
        nbgrader = cell.get("metadata", {}).get("nbgrader", {})
        nbgrader = nbgrader if isinstance(nbgrader, dict) else {}
        runs = cell.get("cell_type") == "code" and not (nbgrader.get("grade") and not nbgrader.get("solution"))
        if runs and SKIP_TAG not in cell.get("metadata", {}).get("tags", []):
            grade_id = nbgrader.get("grade_id") if isinstance(nbgrader.get("grade_id"), str) else None
            cells.append(Cell(position, cell["source"], grade_id, bool(nbgrader.get("solution")), after))
        if isinstance(nbgrader.get("grade_id"), str):
            after = nbgrader["grade_id"]
    return cells


def declared_week(notebook: nbformat.NotebookNode) -> str | None:
    """The week a notebook says it belongs to (``metadata.dlgrade.week``), if any."""
    declared = notebook.get("metadata", {}).get("dlgrade", {})
    week = declared.get("week") if isinstance(declared, dict) else None
    return week if isinstance(week, str) else None


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
