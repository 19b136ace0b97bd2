"""`dlgrade publish`, run by hand as docs/github.md shows: a clear error where the fetch records are missing, a
week filter, and a dry run that shows the text each student would read."""

from __future__ import annotations

import json
import shutil

from autograder.frontends import cli
from autograder.grading.report import GradeReport, TestResult, to_gradescope


def graded_class(tmp_path):
    """results/<student>/<week>/results.json for two weeks of one student, and the fetch record beside the
    submissions, where `dlgrade fetch` writes it."""
    results, submissions = tmp_path / "results", tmp_path / "submissions"
    for week, feedback in (("week1_tensors", "expected shape (2, 3), got (3, 2)"), ("week2_linear", "w2 feedback")):
        test = TestResult(name=f"{week} test", part="p", max_score=2, score=0, output=feedback)
        (results / "ada" / week).mkdir(parents=True)
        report = GradeReport(notebook=f"{week}.ipynb", week=week, tests=[test])
        (results / "ada" / week / "results.json").write_text(json.dumps(to_gradescope(report)))
    submissions.mkdir()
    record = {"ada": {"repository": "course/ada", "commit": "0123456789abcdef" * 2 + "01234567"}}
    (submissions / "fetched.json").write_text(json.dumps(record))
    return results, submissions


def test_publish_without_fetch_records_says_where_they_come_from(tmp_path, capsys):
    """Run before fetched.json is copied into the results (the step the guide once left out), does publish stop
    with one line that names the file and what to do, instead of 'nothing to publish'?"""
    results, _ = graded_class(tmp_path)
    assert cli.main(["publish", str(results), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dlgrade: error: ") and "fetched.json" in err and len(err.splitlines()) == 1


def test_dry_run_of_one_week_shows_what_students_would_read(tmp_path, capsys):
    """With --week, is only that week's check run listed, and does the dry run show its feedback text?"""
    results, submissions = graded_class(tmp_path)
    shutil.copy(submissions / "fetched.json", results)
    assert cli.main(["publish", str(results), "--dry-run", "--week", "week1_tensors"]) == 0
    out = capsys.readouterr().out
    assert "would post course/ada@0123456789ab dlgrade: week1_tensors: 0 / 2 points" in out
    assert "expected shape (2, 3), got (3, 2)" in out
    assert "week2_linear" not in out
