"""Can one submission stop a batch or touch another's results? Hostile notebooks (every crafted reply of
tests/crafted_replies.py) graded between two honest ones must leave the honest ones exactly as graded alone, and
every student with a results.json and a row in grades.csv; ids that look alike keep apart, links are refused.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from crafted_replies import RESTARTING
from test_hostile_replies import notebooks

from autograder.course.weeks import REPO_DIR, get_week
from autograder.frontends.batch.run import Submission, result_file, result_folder, student_of
from autograder.running.cgroups import Budget, SandboxCgroups
from autograder.running.processes import WORK_PREFIX, sweep_leftovers

pytestmark = pytest.mark.slow

WEEK = "week1_tensors"
ONE_OF_EACH = ("a length of 4 GB", "a duplicate reply")
HONEST = {"alice": REPO_DIR / "samples" / WEEK / "student_partial.ipynb", "zoe": get_week(WEEK).solution}


def dlgrade(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    command = [sys.executable, "-m", "autograder", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=1200, env=env)


def verdicts(results: dict) -> list[tuple]:
    return [(test["name"], test["score"], test["output"]) for test in results["tests"]]


def csv_rows(out: Path) -> dict[str, dict]:
    with (out / "grades.csv").open(newline="", encoding="utf-8") as handle:
        return {row["student_id"]: row for row in csv.DictReader(handle)}


@pytest.fixture(scope="module")
def alone(tmp_path_factory) -> dict[str, list[tuple]]:
    """Each honest notebook graded by itself."""
    folder = tmp_path_factory.mktemp("alone")
    found = {}
    for student, notebook in HONEST.items():
        run = dlgrade("grade", str(notebook), "--week", WEEK, "--device", "cpu", "--json-file", str(folder / student))
        assert run.returncode == 0, run.stderr
        found[student] = verdicts(json.loads((folder / student).read_text()))
    return found


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_hostile_classmates_change_nothing(tmp_path: Path, alone: dict, jobs: str) -> None:
    """With every hostile notebook graded between two honest ones, is every student graded, and are the honest
    ones' verdicts exactly those they get alone?"""
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    for student, notebook in HONEST.items():
        shutil.copy(notebook, submissions / f"{student}.ipynb")
    (tmp_path / "made").mkdir()
    hostile = notebooks(tmp_path / "made")
    if jobs == "1":  # one of each way to break the channel (its frames, its turns); --jobs 2 takes every one
        hostile = {name: path for name, path in hostile.items() if name not in RESTARTING or name in ONE_OF_EACH}
    for number, path in enumerate(hostile.values()):
        shutil.copy(path, submissions / f"mallory{number:02d}.ipynb")
    out = tmp_path / "results"
    run = dlgrade("batch", str(submissions), "--out", str(out), "--week", WEEK, "--jobs", jobs, "--device", "cpu")
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Traceback" not in run.stderr
    rows = csv_rows(out)
    assert set(rows) == {*HONEST, *(f"mallory{n:02d}" for n in range(len(hostile)))}
    for student in HONEST:
        results = json.loads(result_file(out, Submission(student, Path(), WEEK)).read_text())
        assert verdicts(results) == alone[student]
        assert float(rows[student]["score"]) == results["score"]
    for number in range(len(hostile)):
        assert float(rows[f"mallory{number:02d}"]["score"]) == 0


def test_look_alike_ids_and_links(tmp_path: Path) -> None:
    """Do ids that one folder name would merge keep their own results, and is a link to another file refused,
    with its reason, instead of graded as that file?"""
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    solution, stub = get_week(WEEK).solution, get_week(WEEK).stub
    names = {"alice smith": solution, "alice_smith": stub, "bob": solution, "bob.": stub, "=SUM(1)": stub}
    for name, notebook in names.items():
        shutil.copy(notebook, submissions / f"{name}.ipynb")
    (submissions / "linked.ipynb").symlink_to(solution)
    (submissions / "eve").mkdir()
    (submissions / "eve" / WEEK).symlink_to(solution.parent, target_is_directory=True)  # a folder of another's
    out = tmp_path / "results"
    run = dlgrade("batch", str(submissions), "--out", str(out), "--week", WEEK, "--jobs", "2", "--device", "cpu")
    assert run.returncode == 1, run.stderr  # some notebooks could not be graded: the links
    assert "2 notebook(s) not gradable" in run.stderr and "linked" in run.stderr and "eve" in run.stderr
    rows = csv_rows(out)
    scores = {student: float(row["score"]) for student, row in rows.items()}
    expected = {"alice smith": 25, "alice_smith": 0, "bob": 25, "bob.": 0, "'=SUM(1)": 0, "linked": 0, "eve": 0}
    assert scores == expected  # and no cell a spreadsheet would run as a formula
    linked = json.loads(result_file(out, Submission("linked", Path(), WEEK)).read_text())
    assert "linked.ipynb is a symbolic link" in linked["output"]
    eve = json.loads(result_file(out, Submission("eve", Path(), WEEK)).read_text())
    assert f"eve/{WEEK} is a symbolic link" in eve["output"]
    assert len({path.parent.parent for path in out.glob("*/*/results.json")}) == 7


@pytest.mark.parametrize(
    "names",
    [
        ["alice smith", "alice_smith", "alice%20smith"],
        ["bob", "bob.", ".bob", "..", "."],
        ["a/b", "a%2Fb", "a_b"],
        ["Zoë", "Zoe\u0308", "~x", "%7Ex"],
        ["", "%"],
    ],
)
def test_result_folders_are_one_to_one(names: list[str]) -> None:
    """Does every id get a folder of its own, one that names no other place, and can it be read back?"""
    folders = [result_folder(name) for name in names]
    assert len(set(folders)) == len(names)
    for name, folder in zip(names, folders, strict=True):
        assert "/" not in folder and folder not in (".", "..") and not folder.startswith(".")
        assert student_of(folder) == name


def test_leftovers_of_a_killed_grading_are_swept(tmp_path: Path) -> None:
    """Does the next batch remove the scratch folders and cgroups a killed grading left (its process gone), and
    leave those of gradings still running?"""
    ended = subprocess.Popen(["true"])
    ended.wait()
    dead, alive = f"{ended.pid}-", f"{os.getpid()}-"
    scratch = [Path(tempfile.gettempdir()) / f"{WORK_PREFIX}{owner}test" for owner in (dead, alive)]
    for folder in scratch:
        (folder / "home").mkdir(parents=True)
    made = []
    for owner in (dead, alive):
        cgroup, _ = SandboxCgroups.create(Budget(processes=4, memory_bytes=0, cpus=0))
        if "pids" in cgroup.folders:
            renamed = cgroup.folders["pids"].with_name(f"dlgrade-{owner}test")
            cgroup.folders["pids"].rename(renamed)
            made.append(renamed)
    try:
        removed = sweep_leftovers()
        assert scratch[0] in removed and not scratch[0].exists()
        assert scratch[1].exists()
        if made:  # where this machine lets a cgroup be made (root, delegated cgroup v2)
            assert made[0] in removed and not made[0].exists()
            assert made[1].exists()
    finally:
        shutil.rmtree(scratch[1], ignore_errors=True)
        for path in made:
            SandboxCgroups({"pids": path}).remove()
