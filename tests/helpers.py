"""Build submissions for tests: the reference solution with some of its functions rewritten."""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
import textwrap
from pathlib import Path

import nbformat
import pytest

from autograder.authoring.handed_in import code_digest
from autograder.authoring.notebook_edits import replace_function
from autograder.course.weeks import WEEKS, get_week
from autograder.grading.grade import grade_notebook
from autograder.grading.report import GradeReport
from autograder.judging import disclosure


def submission(
    tmp_path: Path,
    week: str,
    functions: dict[str, str] | None = None,
    name: str = "submission",
    extra_cells: list[str] | None = None,
    stub: bool = False,
) -> Path:
    """The week's solution (or stub) with ``functions`` replaced and ``extra_cells`` appended, as a file."""
    notebook = nbformat.read(get_week(week).stub if stub else get_week(week).solution, as_version=4)
    for function, source in (functions or {}).items():
        replace_function(notebook, function, source)
    notebook.cells += [nbformat.v4.new_code_cell(textwrap.dedent(source)) for source in extra_cells or []]
    path = tmp_path / f"{name}.ipynb"
    nbformat.write(notebook, path)
    return path


def answered_stub(
    week: str, parts: set[str] | None = None, stub: nbformat.NotebookNode | None = None
) -> nbformat.NotebookNode:
    """The released stub (or ``stub``) with the solution's answer in each part of ``parts`` (None: every part)."""
    solution = nbformat.read(get_week(week).solution, as_version=4)
    answers = {c.metadata["nbgrader"]["grade_id"]: c.source for c in solution.cells if is_answer(c)}
    notebook = copy.deepcopy(stub) if stub is not None else nbformat.read(get_week(week).stub, as_version=4)
    for cell in notebook.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if is_answer(cell) and (parts is None or grade_id in parts):
            cell.source = answers[grade_id]
    return notebook


def is_answer(cell: nbformat.NotebookNode) -> bool:
    """An nbgrader answer cell (the student's code)."""
    return bool(cell.get("metadata", {}).get("nbgrader", {}).get("solution"))


GRADING_DEVICE = {"device": "cpu"}
"""Where the grading tests run the student's code: pytest's --grading-device (tests/conftest.py) sets it."""


def grade(path: Path, week: str | None = None, **limits: float) -> GradeReport:
    """Grade ``path`` on the --grading-device: every verdict in the tests must hold on a CPU and on a GPU alike.
    Every grading in the tests is also held to the feedback policy (``assert_discloses_nothing``)."""
    with disclosure.watching() as ledger:
        report = grade_notebook(path, week=week, device=GRADING_DEVICE["device"], overrides=limits or None)
    assert_discloses_nothing(report, ledger)
    return report


def assert_discloses_nothing(report: GradeReport, ledger: disclosure.Ledger) -> None:
    """No test's feedback, name or note holds a value the graders withheld (a hidden input's, a reference's),
    unless the student's code returned it or the stub's text states it; and none names a helper of the grader's."""
    if report.week in WEEKS and get_week(report.week).stub.is_file():
        ledger.allow([float(number) for number in _STUB_NUMBER.findall(get_week(report.week).stub.read_text())])
    for test in report.tests:
        leaked = ledger.leaks(f"{test.name}\n{test.output}")
        assert not leaked, f"{test.name}: the feedback shows withheld values {leaked}: {test.output!r}"
        helper = _GRADER_HELPER_CALL.search(test.output)
        assert not helper, f"{test.name}: the feedback names the grader's helper {helper[0]}: {test.output!r}"
    leaked = ledger.leaks("\n".join(report.notes))
    assert not leaked, f"the notes show withheld values {leaked}: {report.notes!r}"


_GRADER_HELPER_CALL = re.compile(r"\b(?:where_result_goes|with_cuda_available|calls_during|lines_run)\(")
"""The probes that call the student's code for the graders: feedback names the student's call (``shown_as``)."""
_STUB_NUMBER = re.compile(r"[-+]?\d*\.\d+(?:[eE][-+]?\d+)?")


def scores_by_part(report: GradeReport) -> dict[str, tuple[float, float]]:
    return report.by_part()


def assert_loses_only(report: GradeReport, broken_part: str, feedback: str, also: frozenset[str] = frozenset()) -> None:
    """The report lost points in ``broken_part`` (and at most the parts in ``also``, which reuse the broken
    function), and that part's feedback contains ``feedback``."""
    by_part = report.by_part()
    score, maximum = by_part.pop(broken_part)
    for reusing in also:
        by_part.pop(reusing)
    assert score < maximum, f"part {broken_part} kept all its points"
    assert all(got == most for got, most in by_part.values()), f"points lost elsewhere: {by_part}"
    outputs = "\n".join(t.output for t in report.tests if t.part == broken_part)
    assert feedback in outputs
    assert "Traceback" not in outputs and "autograder/" not in outputs


def assert_full_marks(report: GradeReport) -> None:
    failed = [(t.name, t.output) for t in report.tests if t.status != "passed"]
    assert not failed and report.score == report.max_score > 0


def headless_chromium() -> str:
    """The headless Chromium the browser tests drive (skipping, saying why, where there is none)."""
    for name in ("chromium-headless-shell", "chromium", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    pytest.skip("no headless Chromium here (scripts/test.sh installs Debian's chromium-headless-shell as root)")


def rendered_dom(page: Path, window: str = "1280,900", budget_ms: int = 5000) -> str:
    """``page`` as headless Chromium leaves it once its scripts have run: the DOM, serialised."""
    run = subprocess.run(
        [headless_chromium(), "--headless", "--no-sandbox", "--disable-gpu", f"--window-size={window}"]
        + [f"--virtual-time-budget={budget_ms}", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0 and "</html>" in run.stdout, run.stderr[-2000:]
    return run.stdout


def prepared_solution_files(folder: Path, week4_weights: Path) -> Path:
    """A solution-files folder (DLGRADE_SOLUTION_FILES) holding week 4's weights as the demo would have made them,
    so the demo grades with the session's training instead of training again."""
    week = get_week("week4_cnn")
    made = folder / week.name
    made.mkdir(parents=True)
    for name in week.handed_in:
        shutil.copy(week4_weights / name, made / name)
    (made / "made-from.sha256").write_text(code_digest(week.solution))
    return folder
