"""The documentation's own command blocks, read from the Markdown, so that a guide that drifts fails its test.

The tests that walk a guide run its fenced ``bash`` blocks as written, in order, on a scratch course; only what
cannot run here (a push to GitHub, an install from PyPI, root's cgroup set-up) is left out, each by a line's
opening words and with the reason in the test.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from autograder.course.weeks import REPO_DIR

TEMPLATE_README = REPO_DIR / "autograder" / "templates" / "student_repo" / "README.md"
GUIDES = [REPO_DIR / "README.md", *sorted((REPO_DIR / "docs").glob("*.md")), TEMPLATE_README]

_FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>[\w-]*)\s*$")


@dataclass(frozen=True)
class Block:
    """One fenced code block: where it is (for the failure message) and its text, unindented."""

    doc: Path
    line: int
    lang: str
    text: str

    @property
    def where(self) -> str:
        return f"{self.doc.relative_to(REPO_DIR)}:{self.line}"

    def commands(self) -> list[str]:
        """The block's command lines, a line ending in a backslash joined to the next; blank lines dropped."""
        joined = re.sub(r"\\\n\s*", " ", self.text)
        return [line for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def code_blocks(doc: Path, lang: str = "bash") -> list[Block]:
    """The fenced blocks of ``doc`` in ``lang``, in order, list items' indented blocks included."""
    blocks, opened, body = [], None, []
    for number, line in enumerate(doc.read_text().splitlines(), start=1):
        fence = _FENCE.match(line)
        if opened is None and fence:
            opened, body = (number, fence["indent"], fence["lang"]), []
        elif opened is not None and fence and fence["lang"] == "":
            if opened[2] == lang:
                blocks.append(Block(doc, opened[0], lang, "\n".join(body) + "\n"))
            opened = None
        elif opened is not None:
            body.append(line.removeprefix(opened[1]))
    return blocks


def run_block(
    block: Block,
    cwd: Path,
    env: dict[str, str],
    leave_out: dict[str, str] | None = None,
    before: list[str] | None = None,
    timeout: int = 900,
) -> str:
    """Run ``block`` in bash, stopping at its first failing command, and return what it printed.

    ``leave_out`` maps a command's opening words to why it cannot run here; every other line runs as written,
    after the lines ``before`` (an earlier block's ``export``, as the guide's shell would still have it).
    """
    lines = [line for line in block.commands() if not any(line.startswith(w) for w in (leave_out or {}))]
    script = "set -euo pipefail\n" + "\n".join([*(before or []), *lines]) + "\n"
    run = subprocess.run(
        ["bash", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    output = f"{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    assert run.returncode == 0, f"{block.where} failed ({run.returncode}):\n{script}\n{output}"
    return run.stdout + run.stderr
