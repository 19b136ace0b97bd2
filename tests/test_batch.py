"""Batch grading: both layouts, deterministic shards, one results.json per student, a merged CSV, resumable runs."""

from __future__ import annotations

import csv
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder.course.weeks import REPO_DIR, get_week
from autograder.frontends.batch.run import Submission, find_submissions, in_shard, parse_shard, result_file

WEEK = get_week("week1_tensors")
SAMPLE = REPO_DIR / "samples" / "week1_tensors" / "student_partial.ipynb"


def make_class(root: Path, notebooks: dict[str, Path]) -> Path:
    """nbgrader's submitted/<student>/<week>/<week>.ipynb for each student."""
    for student, source in notebooks.items():
        folder = root / "submitted" / student / WEEK.name
        folder.mkdir(parents=True)
        shutil.copy(source, folder / f"{WEEK.name}.ipynb")
    return root / "submitted"


def dlgrade(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder", *args], capture_output=True, text=True, **kwargs)


def test_both_layouts_are_found(tmp_path):
    """Are nbgrader's submitted/<student>/<week>/ and a flat folder of notebooks both read, with their students?"""
    nested = make_class(tmp_path / "nested", {"ada": WEEK.solution, "bob": WEEK.stub})
    flat = tmp_path / "flat"
    flat.mkdir()
    shutil.copy(WEEK.solution, flat / "carol.ipynb")
    assert [(s.student, s.week) for s in find_submissions(nested)] == [("ada", WEEK.name), ("bob", WEEK.name)]
    assert [(s.student, s.week) for s in find_submissions(flat)] == [("carol", None)]


def test_week_option_selects_that_weeks_folders_in_nbgraders_layout(tmp_path):
    """With every week handed in as <student>/<week>/, does --week pick that week's notebook per student (not grade
    all five as that week), while a folder naming no week and the flat layout are graded as the week given?"""
    from autograder.course.weeks import WEEKS

    root = tmp_path / "submitted"
    for name, week in WEEKS.items():
        (root / "ada" / name).mkdir(parents=True)
        shutil.copy(week.stub, root / "ada" / name / f"{name}.ipynb")
    (root / "bo" / "homework").mkdir(parents=True)
    shutil.copy(WEEKS["week2_linear"].stub, root / "bo" / "homework" / "mine.ipynb")
    shutil.copy(WEEKS["week2_linear"].stub, root / "cy.ipynb")
    chosen = find_submissions(root, "week2_linear")
    assert [(s.student, s.week, s.path.relative_to(root).as_posix()) for s in chosen] == [
        ("ada", "week2_linear", "ada/week2_linear/week2_linear.ipynb"),
        ("bo", "week2_linear", "bo/homework/mine.ipynb"),
        ("cy", "week2_linear", "cy.ipynb"),
    ]
    assert len(find_submissions(root)) == len(WEEKS) + 2


def test_shards_split_a_class_exactly_once():
    """Does every student land in exactly one of n shards, the same one every time?"""
    students = [Submission(f"student{i}", Path(f"{i}.ipynb"), None) for i in range(200)]
    for count in (1, 3, 8):
        owners = [[index for index in range(1, count + 1) if in_shard(s.student, index, count)] for s in students]
        assert all(len(found) == 1 for found in owners)
    sizes = [sum(in_shard(s.student, index, 4) for s in students) for index in range(1, 5)]
    assert min(sizes) > 30  # a fair share each, not all in one
    with pytest.raises(ValueError):
        parse_shard("5/4")


def test_batch_writes_results_and_csv(tmp_path):
    """Does a batch write each student's results.json and a CSV with every score, a bad notebook included?"""
    root = make_class(tmp_path, {"ada": WEEK.solution, "bob": WEEK.stub, "cy": SAMPLE})
    (root / "dee" / WEEK.name).mkdir(parents=True)
    (root / "dee" / WEEK.name / f"{WEEK.name}.ipynb").write_text("{not json")
    out = tmp_path / "results"
    run = dlgrade("batch", str(root), "--out", str(out), "--jobs", "2", timeout=600)
    assert run.returncode == 1, run.stderr  # every notebook has its row; one could not be graded: exit 1 says so
    assert "1 notebook(s) not gradable, scored 0 with the reason: dee" in run.stderr
    scores = {
        row["student_id"]: (float(row["score"]), float(row["max_score"]))
        for row in csv.DictReader((out / "grades.csv").open())
    }
    assert scores == {"ada": (25, 25), "bob": (0, 25), "cy": (15, 25), "dee": (0, 25)}
    dee = json.loads((out / "dee" / WEEK.name / "results.json").read_text())
    assert dee["output"].startswith("not graded: ") and "invalid JSON" in dee["output"]
    assert json.loads((out / "ada" / WEEK.name / "results.json").read_text())["extra_data"]["student"] == "ada"


def test_interrupted_batch_resumes_without_regrading(tmp_path):
    """After a batch is interrupted midway, does the rerun grade exactly the rest, and a third run nothing?"""
    students = {f"s{i}": (WEEK.solution if i % 2 else WEEK.stub) for i in range(6)}
    root = make_class(tmp_path, students)
    out = tmp_path / "results"
    first = subprocess.Popen(
        [sys.executable, "-m", "autograder", "batch", str(root), "--out", str(out), "--jobs", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    while len(list(out.glob("*/*/results.json"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    first.send_signal(signal.SIGINT)
    first.wait(timeout=60)
    done = {path: (path.stat().st_mtime_ns, path.read_bytes()) for path in out.glob("*/*/results.json")}
    assert 2 <= len(done) < 6, "the interruption should land midway"

    second = dlgrade("batch", str(root), "--out", str(out), "--jobs", "1", timeout=600)
    assert second.returncode == 0, second.stderr
    assert f"graded {6 - len(done)}, {len(done)} already up to date" in second.stdout
    for path, (mtime, content) in done.items():
        assert (path.stat().st_mtime_ns, path.read_bytes()) == (mtime, content)
    assert len(list(out.glob("*/*/results.json"))) == 6
    assert "graded 0, 6 already up to date" in dlgrade("batch", str(root), "--out", str(out)).stdout


def test_changed_notebook_is_regraded(tmp_path):
    """Is a submission regraded when the student pushes a new version, and only that one?"""
    root = make_class(tmp_path, {"ada": WEEK.stub, "bob": WEEK.stub})
    out = tmp_path / "results"
    assert dlgrade("batch", str(root), "--out", str(out), timeout=600).returncode == 0
    shutil.copy(WEEK.solution, root / "ada" / WEEK.name / f"{WEEK.name}.ipynb")
    rerun = dlgrade("batch", str(root), "--out", str(out), timeout=600)
    assert "graded 1, 1 already up to date" in rerun.stdout
    ada = Submission("ada", root / "ada" / WEEK.name / f"{WEEK.name}.ipynb", WEEK.name)
    assert json.loads(result_file(out, ada).read_text())["score"] == 25
