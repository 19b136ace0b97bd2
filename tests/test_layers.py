"""The package's layers (autograder/__init__.py) as a contract: pyproject.toml's [tool.importlinter] contracts hold
for this checkout, a planted import that points up breaks them, every module sits in a layer, and the Gradescope
zip carries exactly what grading imports."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

from autograder.course.weeks import PACKAGE_DIR, REPO_DIR, WEEKS, get_week
from autograder.frontends.gradescope.bundle import members

LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
LAYERS = ("frontends", "authoring", "grading", "course", "judging", "running", "sandbox")


def lint_imports(package_parent: Path) -> subprocess.CompletedProcess:
    """import-linter's verdict on the ``autograder`` package found in ``package_parent``, with this checkout's
    contracts."""
    command = [str(LINT_IMPORTS), "--config", str(REPO_DIR / "pyproject.toml"), "--no-cache"]
    return subprocess.run(
        command, cwd=package_parent, env={"PYTHONPATH": str(package_parent), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True,
    )  # fmt: skip


def test_every_import_points_down_the_layers():
    """Do all of pyproject.toml's contracts hold for this checkout, and are there as many as it declares?"""
    run = lint_imports(REPO_DIR)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Contracts: 3 kept, 0 broken." in run.stdout, run.stdout


@pytest.mark.parametrize(
    ("module", "planted", "broken"),
    [
        ("running/notebook.py", "from autograder.frontends import cli", "Imports point down the layers"),
        ("sandbox/text.py", "import autograder.course.weeks", "Imports point down the layers"),
        ("frontends/nbgrader/export.py", "from autograder.frontends.github import roster", "Front ends stand"),
        ("frontends/gradescope/run.py", "from autograder.authoring import mutants", "The authoring tools enter"),
    ],
)
def test_an_import_that_points_up_breaks_the_contract(tmp_path, module, planted, broken):
    """Does a copy of the package with one import planted against a contract fail, naming the contract and
    the import, even when the import is made late, inside a function?"""
    shutil.copytree(PACKAGE_DIR, tmp_path / "autograder", ignore=shutil.ignore_patterns("__pycache__", "templates"))
    path = tmp_path / "autograder" / module
    path.write_text(path.read_text() + f"\n\ndef _planted():\n    {planted}\n")
    run = lint_imports(tmp_path)
    assert run.returncode == 1, run.stdout + run.stderr
    assert f"{broken}" in run.stdout and "BROKEN" in run.stdout, run.stdout
    importer = "autograder." + module.removesuffix(".py").replace("/", ".")
    assert importer in run.stdout, run.stdout


def test_every_module_sits_in_a_layer():
    """Is every module of the package inside one of the layers the contract names, so that no new module can
    stand outside it?"""
    outside = sorted(
        path.relative_to(PACKAGE_DIR).as_posix()
        for path in PACKAGE_DIR.rglob("*.py")
        if "templates" not in path.parts and path.relative_to(PACKAGE_DIR).parts[0] not in LAYERS
    )
    assert outside == ["__init__.py", "__main__.py"]
    assert all((PACKAGE_DIR / layer / "__init__.py").read_text().startswith('"""') for layer in LAYERS)


@pytest.mark.parametrize("week", ["week1_tensors", "week4_cnn"])
def test_gradescope_zip_carries_exactly_what_grading_imports(week):
    """Are the zip's modules those that its run, the sandbox's worker and the week's graders import, with their
    packages, and nothing else (no other front end, no authoring tool, no other week's graders)?"""
    graph = grimp.build_graph("autograder")
    roots = ["autograder.frontends.gradescope.run", "autograder.sandbox.worker", f"autograder.course.graders.{week}"]
    needed = set(roots).union(*(graph.find_upstream_modules(root) for root in roots))
    needed |= {".".join(module.split(".")[:depth]) for module in needed for depth in range(1, module.count(".") + 1)}
    shipped = {
        name.removeprefix("dlgrade/").removesuffix(".py").replace("/", ".").removesuffix(".__init__")
        for name, _ in members(get_week(week))
        if name.startswith("dlgrade/autograder/") and name.endswith(".py")
    }
    assert shipped == needed
    assert not any(module.startswith("autograder.authoring") for module in shipped)
    assert len([w for w in WEEKS if f"autograder.course.graders.{w}" in shipped]) == 1
