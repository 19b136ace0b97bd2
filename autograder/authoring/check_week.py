"""The instructor's check of a week before it is released (``dlgrade check-week``), in one command.

Each step says what it found in one line per problem, naming the file to change:

1. the committed stub is what nbgrader generates from the solution today;
2. each part's nbgrader test cell promises the points its hidden graders award, and calls them;
3. the solution runs top to bottom in a kernel, as Run All would, with every self-check passing;
4. the solution scores full marks and the stub scores 0, with no grader error;
5. every mistake in the week's catalogue (``MISTAKES`` in ``tests/test_<week>.py``) loses points in its own part
   (and in the parts it lists as reusing that answer), with the feedback it expects;
6. with ``mutants``: every mutant of each part's answer is graded, and each part kills at least ``KILL_TARGET``
   of those not listed as equivalent (``autograder/course/graders/equivalent_mutants.json``).

``fast`` does steps 1 to 4 (seconds a week, once week 4's trained weights are made): what CI runs on every push.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbclient.exceptions import CellExecutionError
from tqdm import tqdm

from autograder.authoring import mutants as mutation
from autograder.authoring.handed_in import execute, solution_with_files
from autograder.authoring.mutants import KILL_TARGET
from autograder.authoring.notebook_edits import replace_function
from autograder.course.weeks import REPO_DIR, SOLUTION_CELL_SECONDS, Week
from autograder.grading.grade import grade_notebook
from autograder.grading.report import GradeReport
from autograder.grading.runner import grader_points


@dataclass
class Step:
    """One check of a week: its name, and the problems it found (none: it passed)."""

    name: str
    problems: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)  # what it measured, shown whether it passed or not
    details_always: bool = False  # its details are its result (kill rates), printed without --verbose too

    @property
    def passed(self) -> bool:
        return not self.problems


def check_week(
    week: Week,
    fast: bool = False,
    with_mutants: bool = False,
    parts: set[str] | None = None,
    jobs: int = 1,
    device: str = "cpu",
    progress: bool | None = None,
) -> list[Step]:
    """Every step for ``week`` (see the module's docstring); a step that cannot run says why, as a problem."""
    plan: list[tuple[str, Callable[[Context], Step]]] = [
        ("stub", _stub_matches_solution),
        ("points", _points_match_graders),
        ("self-checks", _solution_runs),
        ("scores", _solution_full_and_stub_zero),
    ]
    if not fast:
        plan.append(("mistakes", _mistakes_lose_their_part))
    if with_mutants:
        plan.append(("mutants", _mutants_are_killed))
    context = Context(week, parts, jobs, device, bool(progress))
    steps = []
    bar = tqdm(plan, desc=f"check-week {week.name}", unit="step", leave=False, disable=not progress)
    for name, step in bar:
        bar.set_postfix_str(name)
        try:
            steps.append(step(context))
        except Exception as exc:  # noqa: BLE001 - a step that breaks is reported, and the others still run
            steps.append(Step(name, [f"could not run: {type(exc).__name__}: {_first_line(exc)}"]))
    return steps


@dataclass
class Context:
    week: Week
    parts: set[str] | None
    jobs: int
    device: str
    progress: bool = False
    solution: Path | None = None  # the solution to grade, beside the files it hands in (step 3 makes it)


def _relative(path: Path) -> str:
    try:
        return path.resolve().relative_to(REPO_DIR).as_posix()
    except ValueError:
        return str(path)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


# -- 1. the stub ---------------------------------------------------------------------------------------------------


def _stub_matches_solution(context: Context) -> Step:
    week, step = context.week, Step("the stub is what nbgrader generates from the solution")
    stub = _relative(week.stub)
    fix = f"regenerate it: nbgrader generate_assignment {week.name} --force"
    with tempfile.TemporaryDirectory(prefix="dlgrade-check-") as scratch:
        course = Path(scratch)
        shutil.copy(REPO_DIR / "nbgrader_config.py", course)
        shutil.copytree(week.solution.parent, course / "solutions" / week.name)
        bin_dir = Path(sys.executable).parent
        run = subprocess.run(
            [sys.executable, "-m", "nbgrader", "generate_assignment", week.name, "--force"],
            cwd=course,
            capture_output=True,
            text=True,
            timeout=600,
            env=dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"),
        )
        if run.returncode != 0:
            said = (run.stderr.strip().splitlines() or ["(nothing on stderr)"])[-1]
            return Step(step.name, [f"nbgrader could not generate the stub from {_relative(week.solution)}: {said}"])
        generated = nbformat.read(course / "assignments" / week.name / week.stub.name, as_version=4)
    if not week.stub.is_file():
        return Step(step.name, [f"{stub} is missing: {fix}"])
    committed = nbformat.read(week.stub, as_version=4)
    if generated.metadata != committed.metadata:
        step.problems.append(f"{stub}: its notebook metadata differs from what nbgrader generates; {fix}")
    if len(generated.cells) != len(committed.cells):
        count = f"{len(committed.cells)} cells, nbgrader generates {len(generated.cells)}"
        step.problems.append(f"{stub} has drifted from {_relative(week.solution)} ({count}); {fix}")
        return step
    for number, (new, old) in enumerate(zip(generated.cells, committed.cells, strict=True), start=1):
        if (new.get("id"), new.source, new.metadata) != (old.get("id"), old.source, old.metadata):
            name = new.get("metadata", {}).get("nbgrader", {}).get("grade_id") or new.get("id")
            step.problems.append(f"{stub} has drifted from the solution at cell {number} ({name}); {fix}")
    return step


# -- 2. points -----------------------------------------------------------------------------------------------------


def _points_match_graders(context: Context) -> Step:
    week, step = context.week, Step("each part's test cell promises its graders' points")
    notebook = nbformat.read(week.solution, as_version=4)
    cells = {
        cell.metadata.nbgrader["grade_id"].removeprefix("grade_"): cell
        for cell in notebook.cells
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade") and not cell.metadata.nbgrader.get("solution")
    }
    awarded = grader_points(week.grader_file)
    solution, graders = _relative(week.solution), _relative(week.grader_file)
    for part in sorted(set(cells) | set(awarded)):
        if part not in awarded:
            step.problems.append(
                f"part {part}: {solution} has a test cell grade_{part} but {graders} grades no such part"
            )
            continue
        if part not in cells:
            step.problems.append(
                f"part {part}: {graders} awards {awarded[part]:g} points but {solution} has no grade_{part} cell"
            )
            continue
        promised = float(cells[part].metadata.nbgrader.get("points", 0))
        if promised != awarded[part]:
            step.problems.append(
                f"part {part}: the test cell grade_{part} in {solution} promises {promised:g} points, "
                f"its graders in {graders} award {awarded[part]:g}"
            )
        if f'grade_part("{week.name}", "{part}")' not in cells[part].source:
            step.problems.append(
                f'part {part}: grade_{part} in {solution} does not call grade_part("{week.name}", "{part}")'
            )
    step.details.append(f"{len(awarded)} parts, {sum(awarded.values()):g} points")
    return step


# -- 3. the solution runs ------------------------------------------------------------------------------------------


def _solution_runs(context: Context) -> Step:
    week, step = context.week, Step("the solution runs top to bottom, every self-check passing")
    try:
        if week.handed_in:  # the files it hands in are made by this run (and kept while its code is unchanged)
            context.solution = solution_with_files(week)
        else:
            with tempfile.TemporaryDirectory(prefix="dlgrade-check-") as folder:
                execute(nbformat.read(week.solution, as_version=4), Path(folder), SOLUTION_CELL_SECONDS)
            context.solution = week.solution
    except CellExecutionError as exc:
        step.problems.append(f"{_relative(week.solution)}: {_failed_cell(exc)}")
    return step


def _failed_cell(exc: CellExecutionError) -> str:
    """The failing cell's first line (nbclient's message opens with a header and a rule, then the cell's source)
    and the error it raised."""
    first = next((line for line in str(exc).splitlines()[2:] if line.strip()), "")
    return f"a cell failed when run as Run All would ({first.strip()[:80]}): {exc.ename}: {exc.evalue[:300]}"


# -- 4. solution and stub scores -----------------------------------------------------------------------------------


def _solution_full_and_stub_zero(context: Context) -> Step:
    week, step = context.week, Step("the solution scores full marks, the stub 0")
    if context.solution is None:
        return Step(step.name, ["not graded: the solution did not run (see the step before)"])
    solution = grade_notebook(context.solution, week=week.name, device=context.device)
    for test in solution.tests:
        if test.score < test.max_score or test.grader_error:
            said = _first_line(Exception(test.output)) or test.status
            step.problems.append(f"{_relative(week.solution)} loses points in {test.part}: {test.name}: {said[:300]}")
    stub = grade_notebook(week.stub, week=week.name, device=context.device)
    if stub.score != 0:
        step.problems.append(f"{_relative(week.stub)} scores {stub.score:g}, not 0: a part is graded without an answer")
    for test in stub.tests:
        if test.grader_error:
            step.problems.append(f"{_relative(week.stub)}: grader error in {test.name}: {test.output[:300]}")
    step.details.append(f"solution {solution.score:g}/{solution.max_score:g}, stub {stub.score:g}/{stub.max_score:g}")
    return step


# -- 5. the catalogue of mistakes ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mistake:
    """One realistic mistake: the answers it rewrites, the part that must lose, the feedback it must get, and the
    parts that reuse its answer (they may lose too)."""

    name: str
    functions: dict[str, str]
    part: str
    feedback: str
    reusers: frozenset[str] = frozenset()


def catalogue(week: Week) -> list[Mistake]:
    """The week's mistakes, as its tests list them (``MISTAKES`` in ``tests/test_<week>.py``)."""
    path = REPO_DIR / "tests" / f"test_{week.name}.py"
    if not path.is_file():
        raise LookupError(f"{_relative(path)} is missing: the week's catalogue of mistakes lives there")
    sys.path.insert(0, str(path.parent))  # its helpers
    try:
        spec = importlib.util.spec_from_file_location(f"_catalogue_{week.name}", path)
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    finally:
        sys.path.remove(str(path.parent))
    entries = getattr(module, "MISTAKES", None)
    if not entries:
        raise LookupError(f"{_relative(path)} lists no MISTAKES")
    return [
        Mistake(name, entry[0], entry[1], entry[2], frozenset(entry[3]) if len(entry) > 3 else frozenset())
        for name, entry in entries.items()
    ]


def _mistakes_lose_their_part(context: Context) -> Step:
    week, step = context.week, Step("each catalogued mistake loses points in its own part")
    if context.solution is None:
        return Step(step.name, ["not graded: the solution did not run (see the step before)"])
    mistakes = catalogue(week)
    shown = tqdm(mistakes, desc=f"{week.name} mistakes", unit="mistake", leave=False, disable=not context.progress)
    with tempfile.TemporaryDirectory(prefix="dlgrade-check-") as scratch:
        for number, mistake in enumerate(shown):
            folder = Path(scratch) / str(number)
            report = grade_notebook(_with_mistake(context.solution, mistake, folder), week.name, context.device)
            step.problems += [f"mistake {mistake.name!r}: {problem}" for problem in _loses_only(report, mistake)]
    step.details.append(f"{len(mistakes)} mistakes")
    return step


def _with_mistake(solution: Path, mistake: Mistake, folder: Path) -> Path:
    """The solution with the mistake's answers, in ``folder`` beside the files the solution hands in."""
    folder.mkdir(parents=True)
    for path in solution.parent.iterdir():
        if path.is_file() and path != solution and path.suffix != ".ipynb":
            shutil.copy2(path, folder / path.name)
    notebook = nbformat.read(solution, as_version=4)
    for function, source in mistake.functions.items():
        replace_function(notebook, function, source)
    path = folder / solution.name
    nbformat.write(notebook, path)
    return path


def _loses_only(report: GradeReport, mistake: Mistake) -> Iterator[str]:
    by_part = report.by_part()
    if mistake.part not in by_part:
        yield f"its part {mistake.part} is not graded"
        return
    score, maximum = by_part.pop(mistake.part)
    if score >= maximum:
        yield f"part {mistake.part} kept all its points"
    lost = [part for part, (got, most) in by_part.items() if got < most and part not in mistake.reusers]
    if lost:
        yield f"it lost points elsewhere too ({', '.join(lost)}): is a grader checking another part's answer?"
    feedback = "\n".join(test.output for test in report.tests if test.part == mistake.part)
    if score < maximum and mistake.feedback not in feedback:
        yield f"part {mistake.part}'s feedback does not say {mistake.feedback!r}"
    if any(test.grader_error for test in report.tests):
        yield "a grader raised an error of its own"


# -- 6. mutants ----------------------------------------------------------------------------------------------------


def _mutants_are_killed(context: Context) -> Step:
    week = context.week
    step = Step(f"each part's graders kill {KILL_TARGET:.0%} of its mutants", details_always=True)
    if importlib.util.find_spec("cosmic_ray") is None:
        return Step(step.name, ["could not run: cosmic-ray is not installed (pip install 'dlgrade[authoring]')"])
    results = mutation.run(week, context.parts, jobs=context.jobs, device=context.device)
    for part, result in results.items():
        killed = f"{len(result.killed)}/{result.counted} killed ({result.kill_rate:.0%})"
        counts = f"{killed}, {len(result.equivalent)} listed as equivalent"
        survivors = [f"  survived {mutant.operator}: {mutant.line}" for mutant in result.survived]
        step.details.append(f"{part}: {counts}")
        step.details += [f"  equivalent {mutant.operator}: {mutant.line} ({why})" for mutant, why in result.equivalent]
        if result.kill_rate < KILL_TARGET:
            step.problems += [f"part {part}: {killed}, below {KILL_TARGET:.0%}; its survivors:", *survivors]
        else:
            step.details += survivors
        for mutant, said in result.broken:
            step.problems.append(f"part {part}: grader error on {mutant.operator}: {mutant.line}: {said[:200]}")
    return step
