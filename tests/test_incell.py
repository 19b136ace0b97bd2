"""grade_part, the hidden test cells' entry under nbgrader: same points as dlgrade, nothing on stderr, time limits."""

from __future__ import annotations

import nbformat
import pytest

from autograder.authoring.incell import PartScore, grade_part
from autograder.course.weeks import get_week
from autograder.grading.runner import grader_points
from autograder.running.notebook import code_cells

WEEK = "week1_tensors"


@pytest.fixture()
def namespace() -> dict:
    """The solution's cells run in a fresh namespace, as a kernel would hold them."""
    names: dict = {"__name__": "__main__"}
    for cell in code_cells(nbformat.read(get_week(WEEK).solution, as_version=4)):
        exec(compile(cell.source, f"<{cell.label}>", "exec"), names)  # noqa: S102 - the course's own solution
    return names


def test_solution_earns_every_part(namespace, capsys):
    """Does each part of the solution get exactly its points, with the feedback printed to stdout?"""
    for part, points in grader_points(get_week(WEEK).grader_file).items():
        assert grade_part(WEEK, part, namespace) == points
    assert "storage_facts: 2 of 2 points" in capsys.readouterr().out


def test_warnings_and_stderr_never_reach_the_test_cell(namespace, capfd):
    """A correct answer that warns and writes to stderr (Python and C level) keeps its points and stays silent."""
    original = namespace["flatten_images"]

    def noisy(images):
        import os
        import sys
        import warnings

        warnings.warn("this function is deprecated", UserWarning, stacklevel=1)
        print("debug output", file=sys.stderr)
        os.write(2, b"C-level noise\n")
        return original(images)

    namespace["flatten_images"] = noisy
    score = grade_part(WEEK, "flatten_images", namespace)
    assert score == grader_points(get_week(WEEK).grader_file)["flatten_images"]
    assert capfd.readouterr().err == ""


def test_a_hanging_answer_costs_its_tests_only(namespace, capsys):
    """Does an endless loop in one function lose that function's tests, by the time limit, and no others?"""

    def hangs(*_):
        while True:
            pass

    namespace["copy_from_numpy"] = hangs
    score = grade_part(WEEK, "numpy_bridge", namespace)
    out = capsys.readouterr().out
    assert 0 < score < grader_points(get_week(WEEK).grader_file)["numpy_bridge"]
    assert "no answer within the time limit (call_seconds=10)" in out


def test_score_prints_as_a_bare_number_for_nbgrader():
    """Does the cell's value look like a number to nbgrader's partial-credit parser?"""
    assert repr(PartScore(1.5)) == "1.5" and repr(PartScore(2.0)) == "2"


def test_unknown_part_is_an_authoring_error(namespace):
    with pytest.raises(LookupError, match="no graders for part 'nope'"):
        grade_part(WEEK, "nope", namespace)


def test_grade_part_refuses_to_grade_under_nbgrader(namespace, monkeypatch):
    """Run by nbgrader's own Execute (a course whose config lacks GradeInSandbox), does grade_part raise, so that
    the test cell scores 0 instead of the points of whatever the kernel holds?"""
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    with pytest.raises(RuntimeError, match="GradeInSandbox"):
        grade_part(WEEK, "storage_facts", namespace)
