"""nbgrader's OverwriteCells without its false alarm on hidden tests (nbgrader issue 1961).

A read-only cell holding hidden tests is stored in the gradebook with those tests, but it is released without
them. OverwriteCells compares the submitted cell's checksum with the stored one, so it warns "Attribute 'checksum'
for cell grade_... has changed!" for every such cell of every student, edited or not, and a TA reads that as a
student's edit. This subclass still puts the stored source back, exactly as nbgrader does. It warns only where the
submitted cell differs from the released one (the stored cell with its hidden tests cleared), which is the edit
the warning exists to report.
"""

from __future__ import annotations

from typing import Any

from nbformat.notebooknode import NotebookNode
from nbformat.v4 import new_code_cell
from nbgrader.api import MissingEntry
from nbgrader.preprocessors import ClearHiddenTests, OverwriteCells


class QuietOverwriteCells(OverwriteCells):
    """OverwriteCells that warns of a changed checksum only where the student changed the cell as released."""

    def preprocess_cell(self, cell: NotebookNode, resources: Any, cell_index: int) -> tuple[NotebookNode, Any]:
        self._as_released = self._is_as_released(cell)
        return super().preprocess_cell(cell, resources, cell_index)

    def report_change(self, name: str, attr: str, old: Any, new: Any) -> None:
        if attr == "checksum" and self._as_released:
            self.log.debug("cell %s: released without its hidden tests, unchanged since; restored", name)
            return
        super().report_change(name, attr, old, new)

    def _is_as_released(self, cell: NotebookNode) -> bool:
        """Whether ``cell`` is its stored cell with the hidden tests cleared, as generate_assignment released it."""
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id is None:
            return False
        try:
            stored = self.gradebook.find_source_cell(grade_id, self.notebook_id, self.assignment_id)
        except MissingEntry:
            return False
        released = new_code_cell(stored.source)
        if not ClearHiddenTests(parent=self)._remove_hidden_test_region(released):
            return False  # no hidden tests: any change of checksum is the student's
        return cell.source == released.source
