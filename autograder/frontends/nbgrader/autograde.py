"""nbgrader's autograde step, graded in dlgrade's sandbox: ``GradeInSandbox`` takes the place of nbgrader's ``Execute``.

``nbgrader_config.py`` puts it in ``c.Autograde.autograde_preprocessors``. No kernel starts: the submission's
cells run in the confined student process and the week's graders in this process, exactly as ``dlgrade grade``
runs them, and what nbgrader's later steps read is written into the notebook:

* each "Autograder tests" cell (``grade_<part>``) gets the graders' feedback as its output and the part's points as
  its value, which ``SaveAutoGrades`` records as partial credit;
* each cell the student's code ran in shows what it printed and drew, or how it failed; a cell not run while
  grading says so;
* a first cell lists the report's notes (time limits hit, edited read-only cells, skipped shell lines, ...).

The gradebook, formgrader, ``generate_feedback``, ``export``, late penalties and nbgrader's own checks of edited
cells then work unchanged. Nothing the student's code does can reach a point: it never shares a process with a
grader.
"""

from __future__ import annotations

import base64
import copy
from pathlib import Path

import nbformat
from nbconvert.exporters.exporter import ResourcesDict
from nbformat.notebooknode import NotebookNode
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Bool, Dict, Enum, Unicode

from autograder.course.weeks import Week, get_week
from autograder.grading.grade import grade_loaded
from autograder.grading.locked_cells import restore_locked_cells
from autograder.grading.report import GradeReport, TestResult, with_feedback
from autograder.judging.disclosure import FEEDBACK_LEVELS
from autograder.running.cells import CellOutcome
from autograder.running.notebook import SKIP_TAG, NotebookError, declared_week, read_notebook

NOTES_SOURCE = "# Notes from grading (dlgrade)"


class GradeInSandbox(NbGraderPreprocessor):
    """Grade the notebook with dlgrade's confined sandbox and write each part's points into its test cell."""

    device = Unicode("auto", help="where student code runs: auto, cpu or cuda").tag(config=True)
    allow_unconfined = Bool(
        False, help="grade even where student code cannot be confined (the notes of each notebook then say so)"
    ).tag(config=True)
    feedback = Enum(
        list(FEEDBACK_LEVELS),
        "hidden",
        help="hidden: feedback never shows a reference value; open: each failed test also says what the reference "
        "is (for feedback released after the deadline: autograde again with this set)",
    ).tag(config=True)
    limits = Dict(
        {}, help="limits that replace the week's, by name (e.g. {'call_seconds': 20}); README.md, 'Limits'"
    ).tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: ResourcesDict) -> tuple[NotebookNode, ResourcesDict]:
        info = resources["nbgrader"]
        week = get_week(declared_week(nb) or info["assignment"])
        coursedir = CourseDirectory(config=self.config)
        folder = Path(resources["metadata"]["path"])
        label = f"{info['student']}/{info['assignment']}/{info['notebook']}.ipynb"
        self.log.info("Grading %s in dlgrade's sandbox (%s)", label, week.name)
        report, outcomes = grade_loaded(
            copy.deepcopy(nb),
            week,
            folder,
            label,
            device=self.device,
            overrides=dict(self.limits),
            require_confinement=not self.allow_unconfined,
            hidden=_classmates(coursedir),
        )
        report = with_feedback(report, self.feedback)
        edited = _edited_cells(coursedir, info, week)
        write_results(nb, report, outcomes, edited + [note for note in report.notes if note not in edited])
        self.log.info("%s: %g of %g points", label, report.score, report.max_score)
        return nb, resources


def write_results(nb: NotebookNode, report: GradeReport, outcomes: list[CellOutcome], notes: list[str]) -> None:
    """Each test cell's feedback and points, each student cell's output, and the notes in a first cell."""
    tests_by_part: dict[str, list[TestResult]] = {}
    for test in report.tests:
        tests_by_part.setdefault(test.part, []).append(test)
    ran = {outcome.cell.index: outcome for outcome in outcomes}
    for position, cell in enumerate(nb.cells, start=1):
        if cell.cell_type != "code":
            continue
        meta = cell.get("metadata", {}).get("nbgrader", {})
        cell.execution_count = None
        if meta.get("grade") and not meta.get("solution"):
            cell.outputs = _test_cell_outputs(str(meta.get("grade_id", "")), tests_by_part)
        elif position in ran:
            cell.outputs = _student_outputs(ran[position])
        else:
            cell.outputs = [_stream(_not_run(cell))]
    if notes:
        notes_cell = nbformat.v4.new_code_cell(NOTES_SOURCE)
        notes_cell.outputs = [_stream("".join(f"- {note}\n" for note in notes))]
        nb.cells.insert(0, notes_cell)


def _test_cell_outputs(grade_id: str, tests_by_part: dict[str, list[TestResult]]) -> list[NotebookNode]:
    """The graders' feedback, then the points as the cell's value (nbgrader's partial credit); no graders: 0."""
    tests = tests_by_part.get(grade_id.removeprefix("grade_"))
    if not tests:
        text = f"no graders for {grade_id}: this cell scores 0 (an authoring error: tell your instructor)\n"
        return [_stream(text, "stderr")]
    lines = []
    for test in tests:
        mark = "passed" if test.score >= test.max_score else "failed"
        lines.append(f"[{mark}] {test.name} ({test.score:g}/{test.max_score:g})")
        lines += [f"    {line}" for line in test.output.splitlines()]
    score, maximum = sum(t.score for t in tests), sum(t.max_score for t in tests)
    lines.append(f"{grade_id.removeprefix('grade_')}: {score:g} of {maximum:g} points")
    value = nbformat.v4.new_output("execute_result", data={"text/plain": f"{score:g}"}, execution_count=None)
    return [_stream("\n".join(lines) + "\n"), value]


def _student_outputs(outcome: CellOutcome) -> list[NotebookNode]:
    """What the cell printed and drew when graded, and how it failed, if it did."""
    outputs = [_stream(outcome.stdout)] if outcome.stdout else []
    for image in outcome.figures:
        data = {"image/png": base64.b64encode(image).decode("ascii"), "text/plain": "<figure>"}
        outputs.append(nbformat.v4.new_output("display_data", data=data))
    if outcome.fatal:
        outputs.append(_stream(f"[grading] {outcome.fatal}; it was skipped and the rest graded without it\n", "stderr"))
    elif outcome.error:
        where = f" (at {outcome.error['where'][-1]})" if outcome.error["where"] else ""
        text = f"[grading] {outcome.error['type']}: {outcome.error['message']}{where}\n"
        outputs.append(_stream(text, "stderr"))
    return outputs


def _not_run(cell: NotebookNode) -> str:
    grade_id = str(cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", ""))
    if grade_id.startswith("check_"):
        return "[grading] this self-check is not run while grading: the hidden tests below ask the same and more\n"
    if SKIP_TAG in cell.get("metadata", {}).get("tags", []):
        return "[grading] this cell is not run while grading (it trains, or shows what training did)\n"
    return "[grading] this cell is not run while grading\n"


def _stream(text: str, name: str = "stdout") -> NotebookNode:
    return nbformat.v4.new_output("stream", name=name, text=text)


def _edited_cells(coursedir: CourseDirectory, info: dict, week: Week) -> list[str]:
    """The read-only cells the student changed, from the notebook as submitted: nbgrader has put them back already
    (OverwriteCells) in the one graded here."""
    folder = Path(coursedir.format_path(coursedir.submitted_directory, info["student"], info["assignment"]))
    try:
        submitted = read_notebook(folder / f"{info['notebook']}.ipynb")
    except NotebookError:
        return []
    return restore_locked_cells(submitted, read_notebook(week.stub)) if week.stub.is_file() else []


def _classmates(coursedir: CourseDirectory) -> tuple[Path, ...]:
    """The course folder (solutions, everyone's submissions, the gradebook): never in the student's sight."""
    return (Path(coursedir.root).resolve(),)
