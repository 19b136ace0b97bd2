"""The committed notebooks: clean, stubs in sync with solutions, points agreeing with the hidden graders."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.runner import grader_points
from autograder.weeks import REPO_DIR, WEEKS

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
    import re
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
