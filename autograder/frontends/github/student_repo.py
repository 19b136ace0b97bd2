"""Write the template repository students work in: stubs, a README, the self-check workflow, nothing hidden.

Only files on an explicit list are written: each week's committed stub (``assignments/<week>/<week>.ipynb``) and
the files under ``templates/student_repo``. Solutions, graders and this package never go near it, and a test
proves that nothing of them leaked.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from autograder.course.weeks import PACKAGE_DIR, WEEKS

TEMPLATE = PACKAGE_DIR / "templates" / "student_repo"


class ExportError(Exception):
    """The template repository cannot be written where asked."""


def export_student_repo(target: Path) -> list[Path]:
    """Write the template into ``target`` (new or empty); returns the files written, relative to it."""
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ExportError(f"{target}: exists and is not an empty folder; choose a new one")
    missing = [week.stub for week in WEEKS.values() if not week.stub.is_file()]
    if missing:
        raise ExportError(f"{missing[0]}: stub missing; run `nbgrader generate_assignment` for that week")
    written = []
    for source in sorted(path for path in TEMPLATE.rglob("*") if path.is_file() and "__pycache__" not in path.parts):
        written.append(_copy(source, target, source.relative_to(TEMPLATE)))
    for week in WEEKS.values():
        written.append(_copy(week.stub, target, Path(week.name) / week.stub.name))
    return written


def _copy(source: Path, root: Path, relative: Path) -> Path:
    destination = root / relative
    destination.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, destination)
    return relative
