"""Grade a folder of submissions: in parallel, resumably, and in deterministic shards.

Layouts: nbgrader's ``submitted/<student>/<week>/<notebook>.ipynb``, or a flat folder of notebooks (the file
name, without ``.ipynb``, is the student). Each result is written atomically to
``OUT/<student>/<week>/results.json`` with a fingerprint of the notebook and of the graders, so an interrupted
run loses nothing already graded, and a rerun grades only what is missing or changed.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import json
import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, replace
from pathlib import Path

from tqdm import tqdm

from autograder import __version__
from autograder.gradebook import CourseRecords, read_gradebook, submission_timestamp
from autograder.report import GradeReport, to_gradescope
from autograder.weeks import WEEKS, UnknownWeek, get_week

CSV_COLUMNS = [  # nbgrader's CSV export columns, so both files load into the same spreadsheet or LMS import
    "assignment",
    "duedate",
    "timestamp",
    "student_id",
    "last_name",
    "first_name",
    "email",
    "raw_score",
    "late_submission_penalty",
    "score",
    "max_score",
]


@dataclass(frozen=True)
class Submission:
    student: str
    path: Path
    week: str | None  # None: the notebook's metadata or name decides

    @property
    def label(self) -> str:
        return self.week or self.path.stem


def find_submissions(root: Path, week: str | None = None) -> list[Submission]:
    """Every notebook under ``root`` in either layout, sorted by student then week."""
    if not root.is_dir():
        raise NotADirectoryError(f"{root}: not a directory of submissions")
    found = [Submission(path.stem, path, week) for path in sorted(root.glob("*.ipynb"))]
    for notebook in sorted(root.glob("*/*/*.ipynb")):
        if ".ipynb_checkpoints" in notebook.parts:
            continue
        folder = notebook.parent.name
        found.append(Submission(notebook.parent.parent.name, notebook, week or (folder if folder in WEEKS else None)))
    return sorted(found, key=lambda s: (s.student, s.label, str(s.path)))


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/n"`` with 1 <= i <= n."""
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise ValueError(f"--shard {text!r}: expected i/n, e.g. 1/4") from None
    if not 1 <= index <= count:
        raise ValueError(f"--shard {text!r}: expected 1 <= i <= n")
    return index, count


def in_shard(student: str, index: int, count: int) -> bool:
    """A stable share by student: all of one student's weeks land in the same shard, on every runner."""
    digest = hashlib.sha256(student.encode()).digest()
    return int.from_bytes(digest[:8], "big") % count == index - 1


def result_file(out: Path, submission: Submission) -> Path:
    return out / _safe(submission.student) / _safe(submission.label) / "results.json"


def fingerprint(submission: Submission) -> str:
    """What a result depends on: the notebook's bytes, the week's graders and this grader's version."""
    digest = hashlib.sha256(submission.path.read_bytes())
    for week in [submission.week] if submission.week in WEEKS else list(WEEKS):
        digest.update(get_week(week).grader_file.read_bytes())
    digest.update(__version__.encode())
    return digest.hexdigest()


def is_current(out: Path, submission: Submission, confined: bool = True) -> bool:
    """Graded before, from the same notebook and graders (and confined, if it can be confined now)."""
    try:
        saved = json.loads(result_file(out, submission).read_text())
        same = saved["extra_data"]["fingerprint"] == fingerprint(submission)
        return same and (saved["extra_data"].get("confined", True) or not confined)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def grade_submission(
    submission: Submission, out: Path, device: str, root: Path, allow_unconfined: bool = False
) -> dict:
    """Grade one notebook and write its results.json atomically; a notebook that cannot be graded scores 0.

    ``root`` (the submissions folder) is hidden from the student's process: no classmate's notebook in sight."""
    from autograder.grade import grade_notebook  # noqa: PLC0415 - imported in each pool process
    from autograder.notebook import NotebookError  # noqa: PLC0415

    try:
        report = grade_notebook(
            submission.path,
            week=submission.week,
            device=device,
            require_confinement=not allow_unconfined,
            hidden=(root, out),
        )
        results = to_gradescope(report)
    except (NotebookError, UnknownWeek) as exc:
        report = _not_graded(submission, f"not graded: {exc}")
        results = to_gradescope(report)
    results["extra_data"].update(student=submission.student, fingerprint=fingerprint(submission))
    target = result_file(out, submission)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".json.partial")
    partial.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    os.replace(partial, target)
    return results


def run_batch(
    root: Path,
    out: Path,
    jobs: int = 1,
    shard: tuple[int, int] = (1, 1),
    device: str = "cpu",
    week: str | None = None,
    gradebook: str | None = None,
    allow_unconfined: bool = False,
) -> tuple[list[Submission], list[Submission]]:
    """Grade what is missing or changed in this shard; returns (all submissions of the shard, those graded now).

    Scores from here are published, so without confinement nothing is graded (``Unconfined``), unless
    ``allow_unconfined``: then each results.json and the CSV say so."""
    from autograder.grade import Unconfined  # noqa: PLC0415
    from autograder.sandbox.confinement import unavailable  # noqa: PLC0415

    reason = unavailable()
    if reason and not allow_unconfined:
        raise Unconfined(
            f"student code cannot be confined here ({reason}); run scripts/enable-confinement.sh, "
            "or pass --allow-unconfined to grade without confinement (every report and the CSV will say so)"
        )
    records = read_gradebook(gradebook) if gradebook else None
    mine = [s for s in find_submissions(root, week) if in_shard(s.student, *shard)]
    todo = [s for s in mine if not is_current(out, s, confined=reason is None)]
    progress = tqdm(total=len(todo), desc="grading", unit="notebook", file=sys.stderr, disable=not todo)
    grade = functools.partial(grade_submission, out=out, device=device, root=root, allow_unconfined=allow_unconfined)
    if jobs <= 1:
        for submission in todo:
            grade(submission)
            progress.update()
    else:
        context = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_one_thread_each) as pool:
            futures = [pool.submit(grade, s) for s in todo]
            for future in as_completed(futures):
                future.result()
                progress.update()
    progress.close()
    write_csv(out, mine, records)
    return mine, todo


def _one_thread_each() -> None:
    """With several notebooks at once, each process computes on one thread: N jobs on N cores, not N x N threads.

    The student's process inherits OMP_NUM_THREADS; set it yourself to override.
    """
    if "OMP_NUM_THREADS" not in os.environ:
        os.environ["OMP_NUM_THREADS"] = "1"
        import torch  # noqa: PLC0415

        torch.set_num_threads(1)


def write_csv(out: Path, submissions: list[Submission], records: CourseRecords | None = None) -> Path:
    """``OUT/grades.csv`` in nbgrader's export format, one row per graded notebook.

    With nbgrader's gradebook (``records``) the names, e-mails, due dates and submission times are filled in as
    ``nbgrader export`` fills them; dlgrade applies no late penalty, so that column is always 0. Where any notebook
    was graded without confinement (``--allow-unconfined``), a last column ``graded_unconfined`` says which.
    """
    records = records or CourseRecords()
    rows = []
    for submission in submissions:
        try:
            results = json.loads(result_file(out, submission).read_text())
        except (OSError, ValueError):
            continue
        week = results.get("extra_data", {}).get("week", submission.label)
        rows.append(
            {
                "assignment": week,
                "duedate": records.duedates.get(week, ""),
                "timestamp": submission_timestamp(submission.path) if records.students else "",
                "student_id": submission.student,
                **records.students.get(submission.student, {}),
                "raw_score": float(results["score"]),
                "late_submission_penalty": 0.0,
                "score": float(results["score"]),
                "max_score": float(results["max_score"]),
                "graded_unconfined": "" if results.get("extra_data", {}).get("confined", True) else "yes",
            }
        )
    columns = CSV_COLUMNS + ["graded_unconfined"] * any(row["graded_unconfined"] for row in rows)
    target = out / "grades.csv"
    out.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".csv.partial")
    with partial.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, restval="", extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    os.replace(partial, target)
    return target


def _not_graded(submission: Submission, reason: str) -> GradeReport:
    """Every test of the week at 0 with the reason, so the student sees 0 out of the right total, part by part."""
    from autograder.runner import grader_tests  # noqa: PLC0415

    report = GradeReport(notebook=str(submission.path), week=submission.week or "unknown", notes=[reason])
    if submission.week in WEEKS:
        report.tests = [replace(test, output=reason) for test in grader_tests(get_week(submission.week).grader_file)]
    return report


def _safe(name: str) -> str:
    """A path component that cannot climb out of the results folder."""
    cleaned = "".join(c if c.isalnum() or c in "-_." else "_" for c in name).strip(".")
    return cleaned or "_"


def merge_results(out: Path) -> Path:
    """``OUT/grades.csv`` from every ``OUT/<student>/<week>/results.json`` (e.g. the artifacts of all shards)."""
    found = [
        Submission(path.parent.parent.name, path, path.parent.name) for path in sorted(out.glob("*/*/results.json"))
    ]
    return write_csv(out, found)
