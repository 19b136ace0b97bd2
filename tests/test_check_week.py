"""`dlgrade check-week`: it passes on every week of the course, and fails, naming the file and the problem, on a
scratch copy of the course whose week has a drifted stub, a grader worth other points than its cell promises, a
grader that lets every mutant of its part through, and a catalogued "mistake" the graders give full marks."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from helpers import prepared_solution_files
from test_week1_tensors import MISTAKES, VARIANTS

from autograder.course.weeks import REPO_DIR, WEEKS

WEEK = "week1_tensors"


def check_week(args: list[str], package_parent: Path = REPO_DIR, env: dict | None = None) -> tuple[int, str]:
    """`dlgrade check-week ARGS` as a new process, from the course whose package is in ``package_parent``."""
    run = subprocess.run(
        [sys.executable, "-m", "autograder", "check-week", *args, "--no-progress"],
        cwd=package_parent,
        env=dict(os.environ, PYTHONPATH=str(package_parent), **(env or {})),
        capture_output=True,
        text=True,
        timeout=1800,
    )
    return run.returncode, run.stdout + run.stderr


@pytest.mark.slow
def test_every_week_passes_the_fast_check(tmp_path, week4_weights):
    """Does `check-week all --fast` pass every step of every week (week 4 with the session's trained weights)?"""
    made = prepared_solution_files(tmp_path / "made", week4_weights)
    status, output = check_week(["all", "--fast", "--verbose"], env={"DLGRADE_SOLUTION_FILES": str(made)})
    assert status == 0, output
    for week in WEEKS:
        steps = [line for line in output.splitlines() if line.startswith(week)]
        assert len(steps) == 4 and all(line.split()[1] == "ok" for line in steps), output
    assert f"{WEEK:<20} ok    the solution scores full marks, the stub 0" in output
    assert "solution 25/25, stub 0/25" in output


def test_an_unknown_week_is_refused_in_one_line():
    status, output = check_week(["week1_tensors", "week9_nothing"])
    assert status == 2, output
    assert output.strip().splitlines() == [
        f"dlgrade: error: unknown week 'week9_nothing': expected one of {', '.join(WEEKS)}"
    ], output  # and nothing checked before the refusal


@pytest.fixture
def scratch_course(tmp_path: Path) -> Path:
    """A copy of the course (package, notebooks, nbgrader config) in which week 1 can be broken."""
    course = tmp_path / "course"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in ("autograder", "solutions", "assignments"):
        shutil.copytree(REPO_DIR / folder, course / folder, ignore=ignore)
    for name in ("nbgrader_config.py", "pyproject.toml"):
        shutil.copy(REPO_DIR / name, course / name)
    (course / "tests").mkdir()
    return course


def test_a_broken_scratch_week_fails_naming_each_problem(scratch_course):
    """Does check-week fail on the scratch week, with one line naming the file for each planted problem, while the
    checks it plants nothing against still pass?"""
    graders = scratch_course / "autograder" / "course" / "graders" / f"{WEEK}.py"
    source = graders.read_text()
    source = _worth_more(source, "devices")
    source = _checking_nothing(source, "storage_facts")
    graders.write_text(source)

    stub = scratch_course / "assignments" / WEEK / f"{WEEK}.ipynb"
    notebook = nbformat.read(stub, as_version=4)
    drifted = next(number for number, cell in enumerate(notebook.cells, start=1) if cell.cell_type == "markdown")
    notebook.cells[drifted - 1].source += "\n\nA sentence added to the stub by hand."
    nbformat.write(notebook, stub)

    right_answer = {"tensor_from_list": VARIANTS["as_tensor, flatten, div, sub and autograd.grad"]["tensor_from_list"]}
    catalogue = {
        "prints instead of returning": MISTAKES["prints instead of returning"],
        "planted: a right answer": (right_answer, "tensor_from_list", "returns nothing"),
    }
    (scratch_course / "tests" / f"test_{WEEK}.py").write_text(f"MISTAKES = {catalogue!r}\n")

    status, output = check_week([WEEK, "--mutants", "--parts", "storage_facts", "--jobs", "2"], scratch_course)
    assert status == 1, output
    lines = output.splitlines()

    def step(name: str) -> str:
        return next(line for line in lines if line.startswith(WEEK) and name in line).split()[1]

    assert step("the stub is what nbgrader generates") == "FAIL"
    assert f"assignments/{WEEK}/{WEEK}.ipynb has drifted from the solution at cell {drifted}" in output
    assert f"nbgrader generate_assignment {WEEK} --force" in output

    assert step("promises its graders' points") == "FAIL"
    assert f"part devices: the test cell grade_devices in solutions/{WEEK}/{WEEK}.ipynb promises" in output
    assert f"its graders in autograder/course/graders/{WEEK}.py award" in output

    assert step("the solution runs top to bottom") == "ok"
    assert step("the solution scores full marks, the stub 0") == "FAIL"
    assert f"assignments/{WEEK}/{WEEK}.ipynb scores" in output and "not 0" in output

    assert step("each catalogued mistake loses points") == "FAIL"
    assert "mistake 'planted: a right answer': part tensor_from_list kept all its points" in output
    assert "mistake 'prints instead of returning'" not in output

    assert step("kill 95% of its mutants") == "FAIL"
    assert "part storage_facts: 0/" in output and "below 95%; its survivors:" in output
    assert "  survived " in output
    assert output.strip().splitlines()[-1].startswith("dlgrade: check-week: 5 check(s) failed")


def _decorated(source: str, part: str) -> list[ast.FunctionDef]:
    """The grader tests of ``part`` in a grader module's source."""
    return [
        node
        for node in ast.parse(source).body
        if isinstance(node, ast.FunctionDef) and any(ast.unparse(d) == f"part({part!r})" for d in node.decorator_list)
    ]


def _worth_more(source: str, part: str) -> str:
    """``source`` with the first test of ``part`` worth one point more than before."""
    test = _decorated(source, part)[0]
    lines = source.splitlines(keepends=True)
    for decorator in test.decorator_list:
        text = ast.unparse(decorator)
        if text.startswith("points("):
            worth = float(text.removeprefix("points(").removesuffix(")"))
            line = decorator.lineno - 1
            lines[line] = lines[line].replace(text, f"points({worth + 1:g})")
    return "".join(lines)


def _checking_nothing(source: str, part: str) -> str:
    """``source`` with every test of ``part`` returning at once: a grader any answer passes."""
    lines = source.splitlines(keepends=True)
    for test in sorted(_decorated(source, part), key=lambda node: node.lineno, reverse=True):
        body = test.body[0]
        indent = " " * body.col_offset
        lines.insert(body.lineno - 1, f"{indent}return  # planted: checks nothing\n")
    return "".join(lines)
