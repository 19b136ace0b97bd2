"""nbgrader's autograde warns of a changed read-only cell only where the student changed it (nbgrader issue 1961:
every hidden-test cell of every student was reported, edited or not)."""

from __future__ import annotations

import copy
import logging
from types import SimpleNamespace

import nbformat
import pytest
from nbgrader import utils

from autograder.course.weeks import get_week
from autograder.frontends.nbgrader.overwrite import QuietOverwriteCells

WEEK = get_week("week1_tensors")


def hidden_test_cells() -> list[tuple[nbformat.NotebookNode, nbformat.NotebookNode]]:
    """(as stored from the solution, as released in the stub) for each of week 1's hidden-test cells."""
    stub = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in nbformat.read(WEEK.stub, 4).cells}
    return [
        (cell, stub[cell.metadata.nbgrader.grade_id])
        for cell in nbformat.read(WEEK.solution, 4).cells
        if "BEGIN HIDDEN TESTS" in cell.source
    ]


def overwriter(stored: nbformat.NotebookNode) -> QuietOverwriteCells:
    """The preprocessor as autograde runs it, over a gradebook that holds ``stored`` (what generate_assignment
    recorded: the solution's cell, hidden tests included, and its checksum)."""
    source_cell = SimpleNamespace(
        source=stored.source, cell_type="code", locked=True, checksum=utils.compute_checksum(stored)
    )
    gradebook = SimpleNamespace(
        find_source_cell=lambda *_: source_cell,
        find_graded_cell=lambda *_: SimpleNamespace(max_score=stored.metadata.nbgrader["points"]),
    )
    processor = QuietOverwriteCells()
    processor.gradebook, processor.notebook_id, processor.assignment_id = gradebook, WEEK.name, WEEK.name
    return processor


@pytest.mark.parametrize("edited", [False, True])
def test_changed_checksum_is_reported_only_for_a_cell_the_student_edited(edited, caplog):
    """For each of week 1's hidden-test cells: submitted as released, is it restored to the stored source without
    a warning; edited by the student, is it restored with nbgrader's warning, as before?"""
    cells = hidden_test_cells()
    assert len(cells) >= 8
    for stored, released in cells:
        submitted = copy.deepcopy(released)
        if edited:
            submitted.source += "\nscore = 'full marks'"
        caplog.clear()
        with caplog.at_level(logging.DEBUG):
            restored, _ = overwriter(stored).preprocess_cell(submitted, {}, 0)
        assert restored.source == stored.source
        warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        if edited:
            assert len(warned) == 1 and "Attribute 'checksum'" in warned[0], warned
        else:
            assert warned == []
