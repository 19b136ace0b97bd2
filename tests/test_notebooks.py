"""The committed notebooks: clean, stubs in sync with solutions, points agreeing with the hidden graders."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.course.weeks import REPO_DIR, WEEKS
from autograder.grading.runner import grader_points

NOTEBOOKS = [week.solution for week in WEEKS.values()] + [week.stub for week in WEEKS.values()]
NOTEBOOKS += sorted((REPO_DIR / "samples").glob("*/*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(REPO_DIR)))
def test_notebooks_are_committed_without_outputs(path):
    """Is every committed notebook valid and free of outputs and execution counts?"""
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path}: {cell.get('id')} has output"


@pytest.mark.parametrize("week", list(WEEKS))
def test_hidden_test_cells_promise_the_hidden_graders_points(week):
    """Does each part's nbgrader test cell carry exactly the points its hidden graders award, and call them?"""
    notebook = nbformat.read(WEEKS[week].solution, as_version=4)
    test_cells = [
        cell
        for cell in notebook.cells
        if cell.metadata.get("nbgrader", {}).get("grade") and not cell.metadata.nbgrader.get("solution")
    ]
    promised = {
        cell.metadata.nbgrader["grade_id"].removeprefix("grade_"): float(cell.metadata.nbgrader["points"])
        for cell in test_cells
    }
    assert promised == grader_points(WEEKS[week].grader_file)
    for cell in test_cells:
        part = cell.metadata.nbgrader["grade_id"].removeprefix("grade_")
        assert f'grade_part("{week}", "{part}")' in cell.source
        assert cell.source.index("### BEGIN HIDDEN TESTS") < cell.source.index("grade_part(")


@pytest.mark.parametrize("week", list(WEEKS))
def test_committed_stub_is_what_nbgrader_generates(tmp_path, week):
    """Does `nbgrader generate_assignment` reproduce the committed stub, cell by cell?"""
    shutil.copy(REPO_DIR / "nbgrader_config.py", tmp_path)
    shutil.copytree(REPO_DIR / "solutions" / week, tmp_path / "solutions" / week)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    run = subprocess.run(
        [sys.executable, "-m", "nbgrader", "generate_assignment", week, "--force"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    generated = nbformat.read(tmp_path / "assignments" / week / f"{week}.ipynb", as_version=4)
    committed = nbformat.read(WEEKS[week].stub, as_version=4)
    assert generated.metadata == committed.metadata
    assert len(generated.cells) == len(committed.cells)
    for new, old in zip(generated.cells, committed.cells, strict=True):
        assert (new.get("id"), new.source, new.metadata) == (old.get("id"), old.source, old.metadata)


@pytest.mark.parametrize("week", list(WEEKS))
def test_stub_hides_every_solution(week):
    """Does the stub keep no line of any solution region, and leave each answer cell raising NotImplementedError?"""
    solution = nbformat.read(WEEKS[week].solution, as_version=4)
    stub = nbformat.read(WEEKS[week].stub, as_version=4)
    for sol_cell, stub_cell in zip(solution.cells, stub.cells, strict=True):
        if not sol_cell.metadata.get("nbgrader", {}).get("solution"):
            continue
        assert "raise NotImplementedError()" in stub_cell.source
        lines = sol_cell.source.splitlines()
        inside = False
        for line in lines:
            if "### END SOLUTION" in line:
                inside = False
            if inside and line.strip():
                assert line not in stub_cell.source.splitlines(), f"{week}: solution line leaked: {line!r}"
            if "### BEGIN SOLUTION" in line:
                inside = True


def test_student_requirements_cover_every_import_of_the_stubs_and_self_check():
    """Does the student template's requirements.txt name the distribution of every module the stubs and
    .github/self_check.py import (beyond the standard library), so `pip install -r requirements.txt` is enough?"""
    import ast
    from importlib.metadata import packages_distributions

    template = REPO_DIR / "autograder" / "templates" / "student_repo"
    sources = [c.source for w in WEEKS.values() for c in nbformat.read(w.stub, 4).cells if c.cell_type == "code"]
    sources.append((template / ".github" / "self_check.py").read_text())
    modules = set()
    for source in sources:
        lines = [line for line in source.splitlines() if not line.lstrip().startswith(("!", "%"))]
        for node in ast.walk(ast.parse("\n".join(lines))):
            if isinstance(node, ast.Import):
                modules |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    third_party = modules - set(sys.stdlib_module_names) - {"autograder"}  # autograder: the hidden cells' import
    listed = {
        re.split(r"[<>=!~;\[ ]", line)[0].lower().replace("_", "-")
        for line in (template / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    distributions = packages_distributions()
    missing = {m for m in third_party if not {d.lower() for d in distributions.get(m, [m])} & listed}
    assert third_party >= {"torch", "tqdm"} and missing == set()


@pytest.mark.parametrize("week", list(WEEKS))
def test_every_self_check_says_what_was_expected_and_what_came(week):
    """Does every assert of the week's self-check cells carry a message (what was expected, what came back), so
    that a failing self-check never shows a bare AssertionError?"""
    import ast

    bare = []
    for cell in nbformat.read(WEEKS[week].stub, as_version=4).cells:
        if not cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "").startswith("check_"):
            continue
        lines = [line for line in cell.source.splitlines() if not line.lstrip().startswith(("!", "%"))]
        source = "\n".join(lines)
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Assert) and not isinstance(node.msg, (ast.Constant, ast.JoinedStr)):
                bare.append(ast.get_source_segment(source, node))
    assert bare == []


def _grade_id(cell: nbformat.NotebookNode) -> str:
    return str(cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", ""))


@pytest.mark.parametrize("week", list(WEEKS))
def test_every_self_check_runs_inside_the_one_helper(week):
    """Is every self-check cell's body inside ``with self_check("<part>"):``, defined by one helper cell whose text is
    the same in every week (so a fix to it reaches all five), right after the imports?"""
    cells = nbformat.read(WEEKS[week].solution, as_version=4).cells
    ids = [_grade_id(cell) for cell in cells]
    helper = cells[ids.index("self_check_helper")]
    first = nbformat.read(next(iter(WEEKS.values())).solution, as_version=4).cells
    assert helper.source == next(c.source for c in first if _grade_id(c) == "self_check_helper")
    assert ids.index("self_check_helper") == ids.index("imports") + 1 and helper.metadata["nbgrader"]["locked"]
    checks = [cell for cell in cells if _grade_id(cell).startswith("check_")]
    assert checks
    for cell in checks:
        head, *body = cell.source.splitlines()
        assert head == f'with self_check("{_grade_id(cell).removeprefix("check_")}"):', head
        assert body and all(line.startswith("    ") or not line.strip() for line in body)


def test_run_all_goes_past_a_failing_self_check_and_shows_every_part(tmp_path):
    """Run top to bottom as Jupyter's Run All runs it (stopping at the first cell whose execution fails), does the
    week-1 sample (parts right, wrong, crashing and not started) reach its last cell, with each self-check saying
    its part's state: passed, failed with the assert's message or the error where it happened, or not started?"""
    from nbclient import NotebookClient

    notebook = nbformat.read(REPO_DIR / "samples" / "week1_tensors" / "student_partial.ipynb", as_version=4)
    client = NotebookClient(notebook, timeout=300, kernel_name="python3", allow_errors=False)
    client.resources = {"metadata": {"path": str(tmp_path)}}
    client.execute()  # raises CellExecutionError if Run All would have stopped
    shown = {}
    for cell in notebook.cells:
        if _grade_id(cell).startswith("check_"):
            text = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
            errors = [o for o in cell.outputs if o.output_type == "error"]
            for error in errors:
                error.traceback = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(error.traceback))  # no colours
            shown[_grade_id(cell).removeprefix("check_")] = (text, errors)
    assert list(shown) == ["tensor_from_list", "storage_facts", "flatten_images", "numpy_bridge", "normalize"] + [
        "broadcasting",
        "devices",
        "autograd",
    ]
    for part in ("tensor_from_list", "storage_facts", "numpy_bridge"):  # numpy_bridge comes after a crash
        text, errors = shown[part]
        assert "self-check passed" in text and errors == [], part
    for part in ("normalize", "autograd"):
        text, errors = shown[part]
        assert f"{part}: self-check not started" in text and [e.ename for e in errors] == ["NotImplementedError"]
    text, errors = shown["broadcasting"]  # an assert: its message, no traceback into the helper
    assert "broadcasting: self-check failed" in text and errors[0].ename == "AssertionError"
    assert errors[0].evalue.startswith("expected [[-2, -10], [0, 0], [2, 10]], got")
    assert "self_check(part)" not in errors[0].traceback
    text, errors = shown["flatten_images"]  # a crash in the student's function: where it happened
    assert errors[0].ename == "RuntimeError" and "in flatten_images" in errors[0].traceback
    assert "self-check passed" not in text


def test_outside_jupyter_a_failing_self_check_raises_as_an_assert_would():
    """In plain Python (a script, no IPython shell) does a failing self-check raise its own error, not hide it?"""
    cells = nbformat.read(next(iter(WEEKS.values())).solution, as_version=4).cells
    helper = next(c.source for c in cells if _grade_id(c) == "self_check_helper")
    code = helper + '\nwith self_check("x"):\n    assert 1 == 2, "expected 2, got 1"\n'
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 1 and run.stderr.strip().endswith("AssertionError: expected 2, got 1"), run.stderr
