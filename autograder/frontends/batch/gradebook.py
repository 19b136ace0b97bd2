"""What nbgrader's gradebook knows that a folder of notebooks does not: names, e-mails and due dates.

``dlgrade batch --gradebook URL`` uses it to write the same CSV as ``nbgrader export``, so one spreadsheet or LMS
import serves both graders. nbgrader's own API reads the database; nothing here writes to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class CourseRecords:
    students: dict[str, dict[str, str]] = field(default_factory=dict)
    duedates: dict[str, str] = field(default_factory=dict)


def read_gradebook(db_url: str) -> CourseRecords:
    """Students (first and last name, e-mail) and assignment due dates from nbgrader's database."""
    from sqlalchemy.exc import SQLAlchemyError  # noqa: PLC0415 - only batch runs with --gradebook need it

    if db_url.startswith("sqlite:///") and not Path(db_url.removeprefix("sqlite:///")).is_file():
        raise ValueError(f"--gradebook {db_url}: no such database file (nbgrader creates it as gradebook.db)")
    try:
        return _read(db_url)
    except SQLAlchemyError as exc:
        raise ValueError(f"--gradebook {db_url}: not a readable nbgrader gradebook ({type(exc).__name__})") from None


def _read(db_url: str) -> CourseRecords:
    from nbgrader.api import Gradebook  # noqa: PLC0415

    records = CourseRecords()
    with Gradebook(db_url) as gradebook:
        for student in gradebook.students:
            records.students[student.id] = {
                "first_name": _text(student.first_name),
                "last_name": _text(student.last_name),
                "email": _text(student.email),
            }
        for assignment in gradebook.assignments:
            records.duedates[assignment.name] = _text(assignment.duedate)
    return records


def submission_timestamp(notebook: Path) -> str:
    """nbgrader's ``timestamp.txt`` beside a collected submission, written as nbgrader's export writes it."""
    from nbgrader.utils import parse_utc  # noqa: PLC0415

    stamp = notebook.parent / "timestamp.txt"
    if not stamp.is_file():
        return ""
    try:
        return str(parse_utc(stamp.read_text().strip()).replace(tzinfo=None))
    except (ValueError, OverflowError):
        return ""


def _text(value: object) -> str:
    return "" if value is None else str(value)
