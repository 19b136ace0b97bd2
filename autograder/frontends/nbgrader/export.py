"""nbgrader's CSV export, written so that no spreadsheet runs a cell of it: ``c.ExportApp.plugin_class``.

nbgrader's own ``CsvExportPlugin`` joins values with commas as they are: a name holding a comma shifts the row,
and one starting with ``=`` (``=HYPERLINK(...)``) runs as a formula where the sheet is opened. This plugin writes the
same columns and rows with ``dlgrade batch``'s own CSV writer (``batch.write_rows``: the csv module, each cell
``spreadsheet_safe``, LF line ends), so the two files stay comparable row for row.
"""

from __future__ import annotations

from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.plugins import CsvExportPlugin

from autograder.frontends.batch.run import CSV_COLUMNS, write_rows


class SafeCsvExport(CsvExportPlugin):
    """``CsvExportPlugin``'s rows (every student for every assignment, 0 where nothing was submitted), quoted."""

    def export(self, gradebook: Gradebook) -> None:
        students = {str(item) for item in self.student}
        assignments = {str(item) for item in self.assignment}
        dest = self.to or "grades.csv"
        self.log.info("Exporting grades to %s", dest)
        rows = [
            _row(gradebook, assignment, student)
            for assignment in gradebook.assignments
            if not assignments or assignment.name in assignments
            for student in gradebook.students
            if not students or student.id in students
        ]
        write_rows(Path(dest), CSV_COLUMNS, rows)


def _row(gradebook: Gradebook, assignment, student) -> dict:
    row = {
        "assignment": assignment.name,
        "duedate": assignment.duedate,
        "student_id": student.id,
        "last_name": student.last_name,
        "first_name": student.first_name,
        "email": student.email,
        "max_score": assignment.max_score,
    }
    try:
        submission = gradebook.find_submission(assignment.name, student.id)
    except MissingEntry:
        return {**row, "timestamp": "", "raw_score": 0.0, "late_submission_penalty": 0.0, "score": 0.0}
    penalty = submission.late_submission_penalty
    score = max(0.0, submission.score - penalty)
    return {
        **row,
        "timestamp": submission.timestamp,
        "raw_score": submission.score,
        "late_submission_penalty": penalty,
        "score": score,
    }
