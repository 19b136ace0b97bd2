"""What a grade depends on, as digests a batch compares to know which results are stale, and says why.

A result depends on the notebook's bytes as they were read for grading, every file handed in beside it, the
grader's code (the whole package: a week's graders use shared checks, probes and the sandbox), and the settings it
was graded with (device and limits). Code is digested as its syntax tree, so a comment changes nothing; a
docstring or any code does.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
from dataclasses import asdict
from pathlib import Path

from autograder import __version__
from autograder.course.weeks import PACKAGE_DIR, WEEKS, get_week

PARTS = ("notebook", "handed in", "graders", "settings")
"""The parts of a fingerprint, in the words ``why_stale`` uses."""


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@functools.cache
def grader_code(package: Path = PACKAGE_DIR) -> str:
    """The grader package's code, comments aside, and its version: one digest for every week."""
    total = hashlib.sha256(__version__.encode())
    for path in sorted(package.rglob("*")):
        if "__pycache__" in path.parts or not path.is_file():
            continue
        total.update(str(path.relative_to(package)).encode() + b"\0")
        data = path.read_bytes()
        if path.suffix == ".py":
            try:
                data = ast.dump(ast.parse(data)).encode()
            except (SyntaxError, ValueError):
                pass  # an unparsable module still counts, byte for byte
        total.update(digest(data).encode())
    return total.hexdigest()


def parts(notebook: bytes, folder: Path, week: str | None, device: str) -> dict[str, str]:
    """The digest of each part a grade of ``notebook`` (handed in in ``folder``, for ``week``) depends on."""
    weeks = [get_week(week)] if week in WEEKS else list(WEEKS.values())
    handed_in = {name: _file_digest(folder / name) for w in weeks for name in w.handed_in}
    settings = {"device": device, "limits": {w.name: asdict(w.limits) for w in weeks}}
    return {
        "notebook": digest(notebook),
        "handed in": digest(json.dumps(handed_in, sort_keys=True).encode()),
        "graders": grader_code(),
        "settings": digest(json.dumps(settings, sort_keys=True).encode()),
    }


def combined(found: dict[str, str]) -> str:
    """One digest of all the parts."""
    return digest(json.dumps(found, sort_keys=True).encode())


def why_stale(saved: object, current: dict[str, str]) -> str | None:
    """Why a result fingerprinted ``saved`` (its parts, from results.json) is stale now; None if it is not."""
    if not isinstance(saved, dict):
        return "graded by an older dlgrade"
    changed = [part for part in PARTS if saved.get(part) != current[part]]
    return (", ".join(changed) + " changed") if changed else None


def _file_digest(path: Path) -> str:
    try:
        return digest(path.read_bytes()) if path.is_file() and not path.is_symlink() else "missing"
    except OSError:
        return "unreadable"
