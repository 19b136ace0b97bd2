"""Read-only cells are the course's, not the student's: grade with the released version, and say what was edited.

nbgrader marks instruction, set-up, self-check and test cells ``locked``. ``nbgrader autograde`` puts the
source of an edited locked cell back from its gradebook; this does the same from the released stub, matched by
nbgrader's ``grade_id``, so that both graders run the same code and the student learns which cells they changed.
"""

from __future__ import annotations

import copy

import nbformat

_FLAGS = ("grade", "solution", "locked", "points")


def _nbgrader(cell: nbformat.NotebookNode) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


def restore_locked_cells(notebook: nbformat.NotebookNode, released: nbformat.NotebookNode) -> list[str]:
    """Put back every locked cell the student changed (source, type, nbgrader flags); one note per cell."""
    originals = {
        _nbgrader(cell)["grade_id"]: cell
        for cell in released.cells
        if _nbgrader(cell).get("locked") and _nbgrader(cell).get("grade_id")
    }
    if not originals:
        return []
    mine = {_nbgrader(cell).get("grade_id"): cell for cell in notebook.cells if _nbgrader(cell).get("grade_id")}
    if not mine:
        return ["the notebook has lost its nbgrader cell metadata, so its read-only cells could not be checked"]
    notes = []
    for grade_id, original in originals.items():
        cell = mine.get(grade_id)
        if cell is None:
            notes.append(f"read-only cell `{grade_id}` was deleted")
            continue
        if not _changed(cell, original):
            continue
        notes.append(f"read-only cell `{grade_id}` was edited; it was graded as released, without the edits")
        _replace(cell, original)
    return notes


def _changed(cell: nbformat.NotebookNode, original: nbformat.NotebookNode) -> bool:
    if cell.get("cell_type") != original.cell_type or _visible(cell.get("source", "")) != _visible(original.source):
        return True
    if cell.get("metadata", {}).get("tags") != original.metadata.get("tags"):
        return True
    return any(_nbgrader(cell).get(key) != _nbgrader(original).get(key) for key in _FLAGS)


def _visible(source: str) -> str:
    """The source as released: without nbgrader's hidden-tests region (the solution notebook keeps it)."""
    kept, hidden = [], False
    for line in source.splitlines():
        if "### BEGIN HIDDEN TESTS" in line:
            hidden = True
        elif "### END HIDDEN TESTS" in line:
            hidden = False
        elif not hidden:
            kept.append(line)
    return "\n".join(kept).strip()


def _replace(cell: nbformat.NotebookNode, original: nbformat.NotebookNode) -> None:
    cell.clear()
    cell.update(copy.deepcopy(original))
