"""Private and downloaded files stay out of git by default: the course folder's rosters and grades, and the data a
student's notebook downloads beside it; what a student hands in is never ignored."""

from __future__ import annotations

import subprocess
from pathlib import Path

from autograder.frontends.github.student_repo import export_student_repo

REPO = Path(__file__).resolve().parents[1]


def ignored(folder: Path, *paths: str) -> set[str]:
    run = subprocess.run(
        ["git", "-C", str(folder), "check-ignore", "--no-index", *paths], capture_output=True, text=True
    )
    assert run.returncode in (0, 1), run.stderr
    return set(run.stdout.split())


def test_course_folder_ignores_rosters_and_grades_but_not_the_github_roster():
    """In the repository (the nbgrader course folder), are students.csv and grades.csv (names, e-mails, scores) and
    the class report's files ignored, and roster.csv, which the grade-students workflow reads, not?"""
    private = {"students.csv", "grades.csv", "report.html", "report.json", "report-scores.csv", "report/week1.html"}
    assert ignored(REPO, *private, "roster.csv") == private


def test_student_template_ignores_downloads_but_not_what_is_handed_in(tmp_path):
    """In an exported student repository, are the downloaded data and Jupyter's checkpoints ignored, and the
    notebooks and week 4's weights not?"""
    target = tmp_path / "template"
    export_student_repo(target)
    subprocess.run(["git", "init", "-q", str(target)], check=True)
    handed_in = ["week4_cnn/week4_cnn.ipynb", "week4_cnn/week4_cnn.pt", "week4_cnn/week4_ff.pt"]
    downloads = ["week4_cnn/data/FashionMNIST/raw/train-images-idx3-ubyte", "week1_tensors/.ipynb_checkpoints/x"]
    assert ignored(target, *handed_in, *downloads) == set(downloads)
