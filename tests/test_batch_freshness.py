"""Is a batch's result never stale? A result is graded again when anything that decides it changes (the notebook as
graded, a file handed in beside it, any of the grader's code, the settings), not when a comment does, and the batch
says why; one student and week is one row, whatever the folder holds or however the name is spelt.
"""

from __future__ import annotations

import json
import shutil
import unicodedata
from dataclasses import replace
from pathlib import Path

import nbformat
import pytest

import autograder.grading.grade
from autograder.course.weeks import PACKAGE_DIR, WEEKS, get_week
from autograder.frontends.batch import fingerprint
from autograder.frontends.batch.run import (
    Submission,
    find_submissions,
    grade_submission,
    result_file,
    stale_reason,
    write_result,
)


def graded_without_grading(out: Path, submission: Submission, device: str = "cpu") -> None:
    """A results.json for ``submission`` as a batch writes it, with the fingerprint of the files as they are now."""
    data = submission.path.read_bytes()
    parts = fingerprint.parts(data, submission.path.parent, submission.week, device)
    results = {"score": 0, "max_score": 30, "tests": [], "output": "", "extra_data": {"confined": True}}
    write_result(out, submission, results, "graded", parts)


def week4_submission(tmp_path: Path) -> Submission:
    folder = tmp_path / "submitted" / "ada" / "week4_cnn"
    folder.mkdir(parents=True)
    shutil.copy(get_week("week4_cnn").stub, folder / "week4_cnn.ipynb")
    return Submission("ada", folder / "week4_cnn.ipynb", "week4_cnn")


def test_files_handed_in_later_make_it_stale(tmp_path: Path, monkeypatch) -> None:
    """Are week 4's weights, handed in (or changed) after a first grading, a reason to grade again, named?"""
    submission, out = week4_submission(tmp_path), tmp_path / "results"
    graded_without_grading(out, submission)
    assert stale_reason(out, submission, "cpu") is None
    (submission.path.parent / "week4_cnn.pt").write_bytes(b"weights")
    assert stale_reason(out, submission, "cpu") == "handed in changed"
    graded_without_grading(out, submission)
    (submission.path.parent / "week4_cnn.pt").write_bytes(b"better weights")
    assert stale_reason(out, submission, "cpu") == "handed in changed"
    graded_without_grading(out, submission)
    assert stale_reason(out, submission, "auto") == "settings changed"  # week 4 trains on a GPU where there is one
    week = get_week("week4_cnn")
    monkeypatch.setitem(WEEKS, week.name, replace(week, limits=replace(week.limits, call_seconds=99)))
    assert stale_reason(out, submission, "cpu") == "settings changed"


def test_any_grader_code_counts_but_not_its_comments(tmp_path: Path) -> None:
    """Does a change to a shared grader module (checks.py) change the graders' digest, and a comment not?"""
    package = tmp_path / "autograder"
    shutil.copytree(PACKAGE_DIR, package, ignore=shutil.ignore_patterns("__pycache__"))
    before = fingerprint.grader_code(package)
    checks = package / "judging" / "checks.py"
    checks.write_text(checks.read_text() + "\n# a comment changes no verdict\n")
    fingerprint.grader_code.cache_clear()
    assert fingerprint.grader_code(package) == before
    checks.write_text(checks.read_text().replace("rtol 1.3e-6", "rtol 1.3e-6 ").replace("(1e-3, 1e-5)", "(1e-2, 1e-5)"))
    fingerprint.grader_code.cache_clear()
    assert fingerprint.grader_code(package) != before


def test_a_result_never_outlives_its_grader_code(tmp_path: Path) -> None:
    """Is a result saved by other grader code stale, saying so?"""
    submission, out = week4_submission(tmp_path), tmp_path / "results"
    graded_without_grading(out, submission)
    saved = json.loads(result_file(out, submission).read_text())
    saved["extra_data"]["fingerprint_parts"]["graders"] = "older"
    result_file(out, submission).write_text(json.dumps(saved))
    assert stale_reason(out, submission, "cpu") == "graders changed"


def test_a_notebook_replaced_while_graded_is_graded_again(tmp_path: Path, monkeypatch) -> None:
    """When the notebook is replaced while it is being graded, is the result that of the bytes that were read, and
    fingerprinted as those, so the next run grades the new file?"""
    week = get_week("week1_tensors")
    folder = tmp_path / "submitted" / "ada" / week.name
    folder.mkdir(parents=True)
    shutil.copy(week.stub, folder / f"{week.name}.ipynb")
    submission = Submission("ada", folder / f"{week.name}.ipynb", week.name)
    real = autograder.grading.grade.grade_notebook

    def replaced_meanwhile(path, **options):
        shutil.copy(week.solution, path)  # the student pushes the solution while the stub is graded
        return real(path, **options)

    monkeypatch.setattr(autograder.grading.grade, "grade_notebook", replaced_meanwhile)
    out = tmp_path / "results"
    results = grade_submission(submission, out, "cpu", tmp_path / "submitted", allow_unconfined=True)
    assert results["score"] == 0  # the stub, as read
    assert stale_reason(out, submission, "cpu") == "notebook changed"


def test_one_row_per_student_and_week(tmp_path: Path) -> None:
    """Are two notebooks in one assignment folder one submission, refused with both named, and an id spelt in
    Unicode's two forms (NFC, NFD) one student?"""
    folder = tmp_path / "submitted" / "ada" / "week1_tensors"
    folder.mkdir(parents=True)
    for name in ("week1_tensors.ipynb", "week1_tensors-copy.ipynb"):
        nbformat.write(nbformat.v4.new_notebook(), folder / name)
    for form in ("NFC", "NFD"):
        (tmp_path / "submitted" / unicodedata.normalize(form, "Zoë") / "week1_tensors").mkdir(parents=True)
        nbformat.write(
            nbformat.v4.new_notebook(),
            tmp_path / "submitted" / unicodedata.normalize(form, "Zoë") / "week1_tensors" / f"{form}.ipynb",
        )
    found = find_submissions(tmp_path / "submitted")
    assert [(s.student, s.label) for s in found] == [("Zoë", "week1_tensors"), ("ada", "week1_tensors")]
    zoe, ada = found
    assert "2 notebooks for one student and week" in ada.refused
    assert "week1_tensors-copy.ipynb" in ada.refused and "ada/week1_tensors/week1_tensors.ipynb" in ada.refused
    assert zoe.student == unicodedata.normalize("NFC", "Zoë") and "2 notebooks" in zoe.refused


@pytest.mark.parametrize("layout", ["flat"])
def test_batch_says_why_it_grades_again(tmp_path: Path, layout: str) -> None:
    """Does the batch's listing say, per student, why one was graded now?"""
    from test_batch import dlgrade

    submissions = tmp_path / "submissions"
    submissions.mkdir()
    week = get_week("week1_tensors")
    shutil.copy(week.stub, submissions / "ada.ipynb")
    shutil.copy(week.stub, submissions / "bob.ipynb")
    out = tmp_path / "results"
    first = dlgrade("batch", str(submissions), "--out", str(out), "--week", week.name, timeout=600)
    assert "graded now: not graded yet" in first.stdout
    shutil.copy(week.solution, submissions / "bob.ipynb")
    second = dlgrade("batch", str(submissions), "--out", str(out), "--week", week.name, timeout=600)
    lines = {line.split()[0]: line for line in second.stdout.splitlines() if line.startswith(("ada", "bob"))}
    assert "graded now" not in lines["ada"] and "graded now: notebook changed" in lines["bob"]
