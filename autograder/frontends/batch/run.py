"""Grade a folder of submissions: in parallel, resumably, and in deterministic shards.

Layouts: nbgrader's ``submitted/<student>/<week>/<notebook>.ipynb``, or a flat folder of notebooks (the file
name, without ``.ipynb``, is the student). Each result is written atomically to
``OUT/<student>/<week>/results.json`` with a fingerprint of the notebook and of the graders, so an interrupted
run loses nothing already graded, and a rerun grades only what is missing or changed.

No notebook can end a batch: whatever happens while one is graded, that student gets a results.json (0, with the
reason, where it could not be graded) and a row in grades.csv. Folder names encode student ids one to one
(``result_folder``), so two students never share a results folder; symbolic links and other files that are not
plain files are refused, as ``dlgrade fetch`` refuses them.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import hashlib
import itertools
import json
import multiprocessing
import os
import re
import signal
import stat
import sys
import threading
import unicodedata
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from pathlib import Path

from tqdm import tqdm

from autograder.course.weeks import WEEKS, UnknownWeek, get_week
from autograder.frontends.batch import fingerprint
from autograder.frontends.batch.gradebook import CourseRecords, read_gradebook, submission_timestamp
from autograder.grading.grade import device_for
from autograder.grading.report import GradeReport, to_gradescope
from autograder.running.notebook import MAX_NOTEBOOK_BYTES
from autograder.running.processes import sweep_leftovers
from autograder.running.spare_process import ProcessPlan, Spare
from autograder.sandbox.text import clean

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
    refused: str | None = field(default=None, compare=False)  # why it is not graded at all (a link, not a file)

    @property
    def label(self) -> str:
        return self.week or self.path.stem


def find_submissions(root: Path, week: str | None = None) -> list[Submission]:
    """Every notebook under ``root`` in either layout, sorted by student then week.

    ``week``: in nbgrader's layout (``<student>/<week>/``) only that week's folders are taken; a notebook in a folder
    that names no week, or in the flat layout, is graded as that week."""
    if not root.is_dir():
        raise NotADirectoryError(f"{root}: not a directory of submissions")
    found = [Submission(_id(path.stem), path, week, _refusal(root, path)) for path in sorted(root.glob("*.ipynb"))]
    for notebook in sorted(root.glob("*/*/*.ipynb")):
        if ".ipynb_checkpoints" in notebook.parts:
            continue
        folder = notebook.parent.name
        if week and folder in WEEKS and folder != week:
            continue  # another week's folder: --week selects, it does not regrade other weeks as this one
        chosen = week or (folder if folder in WEEKS else None)
        found.append(Submission(_id(notebook.parent.parent.name), notebook, chosen, _refusal(root, notebook)))
    return _one_per_student_and_week(sorted(found, key=lambda s: (s.student, s.label, str(s.path))), root)


def _id(name: str) -> str:
    """A student id as Unicode's composed form (NFC): one name typed on two systems is one student."""
    return unicodedata.normalize("NFC", name)


def _one_per_student_and_week(found: list[Submission], root: Path) -> list[Submission]:
    """One submission per student and week: where there are several (two notebooks in one assignment folder, one
    name in two Unicode forms), the first stands for them all, refused with every file named."""
    kept: list[Submission] = []
    for _, group in itertools.groupby(found, key=lambda s: (s.student, s.label)):
        same = list(group)
        if len(same) > 1:
            names = ", ".join(str(s.path.relative_to(root)) for s in same)
            same[0] = replace(same[0], refused=f"{len(same)} notebooks for one student and week ({names}): hand in one")
        kept.append(same[0])
    return kept


def _refusal(root: Path, path: Path) -> str | None:
    """Why ``path`` is not graded: it, or a folder between it and ``root``, is a symbolic link, or it is not a plain
    file (a FIFO would block the grader). None for a plain file."""
    relative = path.relative_to(root)
    for part in [relative, *relative.parents[:-1]]:  # the notebook, then each folder up to root's
        if (root / part).is_symlink():
            return f"{part} is a symbolic link; hand in the notebook itself"
    if not stat.S_ISREG(path.lstat().st_mode):
        return f"{path.relative_to(root)} is not a plain file"
    return None


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
    return out / result_folder(submission.student) / result_folder(submission.label) / "results.json"


def result_folder(name: str) -> str:
    """A folder name for a student id or week, one to one (two ids never share one) and readable: letters, digits,
    ``-_.`` as they are, everything else (``%`` included) percent-encoded as UTF-8, a leading dot too, so ``..``
    cannot climb. ``student_of`` reads it back."""
    encoded = urllib.parse.quote(name, safe="-_.", errors="surrogateescape").replace("~", "%7E") or "%"
    return "%2E" + encoded[1:] if encoded.startswith(".") else encoded


def student_of(folder: str) -> str:
    """The id ``result_folder`` encoded as ``folder``."""
    return "" if folder == "%" else urllib.parse.unquote(folder, errors="surrogateescape")


def notebook_bytes(submission: Submission) -> bytes:
    """The notebook as it is graded, read once (a refused one is never opened: it may be a FIFO)."""
    if submission.refused:
        return f"refused: {submission.refused}".encode(errors="replace")
    try:
        with submission.path.open("rb") as handle:
            return handle.read(MAX_NOTEBOOK_BYTES + 1)
    except OSError as exc:
        return f"unreadable: {exc}".encode(errors="replace")


def fingerprint_parts(submission: Submission, data: bytes, device: str) -> dict[str, str]:
    """What a result of ``submission`` (whose bytes are ``data``) depends on, part by part; the device as the week
    uses it (``auto`` is the CPU for weeks without GPU work). Resolving ``auto`` for week 4 would start CUDA in the
    batch's main process before it forks its pool, so there ``auto`` and ``cpu`` count as different settings."""
    used = device_for(get_week(submission.week), device) if submission.week in WEEKS else device
    return fingerprint.parts(data, submission.path.parent, submission.week, used)


def stale_reason(out: Path, submission: Submission, device: str, confined: bool = True) -> str | None:
    """Why ``submission`` must be graded (again), in a few words; None if its results.json is current."""
    try:
        saved = json.loads(result_file(out, submission).read_text())["extra_data"]
    except (OSError, ValueError, KeyError, TypeError):
        return "not graded yet"
    if not isinstance(saved, dict):
        return "not graded yet"
    if saved.get("confined", True) is False and confined:
        return "graded unconfined before"
    current = fingerprint_parts(submission, notebook_bytes(submission), device)
    return fingerprint.why_stale(saved.get("fingerprint_parts"), current)


def grade_submission(
    submission: Submission,
    out: Path,
    device: str,
    root: Path,
    allow_unconfined: bool = False,
    spare: Spare | None = None,
    following: Submission | None = None,
) -> dict:
    """Grade one notebook and write its results.json atomically; a notebook that cannot be graded scores 0.

    ``root`` (the submissions folder) is hidden from the student's process: no classmate's notebook in sight.
    With ``spare``, the process of ``following`` (the next notebook) starts while this one is judged."""
    from autograder.grading.grade import grade_notebook  # noqa: PLC0415 - imported in each pool process
    from autograder.running.notebook import NotebookError  # noqa: PLC0415

    status = "graded"
    next_plan = _plan(following, out, device, root, allow_unconfined) if spare and following else None
    data = notebook_bytes(submission)
    parts = fingerprint_parts(submission, data, device)  # of the bytes graded, whatever the file becomes meanwhile
    try:
        if submission.refused:
            raise NotebookError(submission.refused)
        report = grade_notebook(
            submission.path,
            week=submission.week,
            device=device,
            require_confinement=not allow_unconfined,
            hidden=(root, out),
            data=data,
            spare=spare,
            following=next_plan,
        )
        if any(test.grader_error for test in report.tests):
            status = "grader error"
    except (NotebookError, UnknownWeek) as exc:
        report, status = _not_graded(submission, f"not graded: {exc}"), "not gradable"
    except Exception as exc:  # noqa: BLE001 - no notebook may end the batch: this one gets 0 and the reason
        reason = f"not graded: the grader could not finish this notebook ({type(exc).__name__}: {exc})"
        report, status = _not_graded(submission, reason), "grader error"
    return write_result(out, submission, to_gradescope(report), status, parts)


def _plan(submission: Submission, out: Path, device: str, root: Path, allow_unconfined: bool) -> ProcessPlan | None:
    """The plan ``grade_submission`` will start ``submission``'s process with, where it can be known before the
    notebook is read (its week from the folder layout); None otherwise."""
    from autograder.grading.grade import Unconfined, process_plan  # noqa: PLC0415

    if submission.refused or submission.week not in WEEKS:
        return None
    folder = submission.path.resolve().parent
    try:
        week = get_week(submission.week)
        return process_plan(week, folder, device, require_confinement=not allow_unconfined, hidden=(root, out))
    except (Unconfined, ValueError, OSError):
        return None  # its own grading reports why


def write_result(out: Path, submission: Submission, results: dict, status: str, parts: dict | None = None) -> dict:
    """``results`` as the submission's results.json, atomically, with what grading it depended on (``parts``; None:
    nothing, so the next run grades it again) and how it went (``status``: "graded", "not gradable", the notebook's
    fault, or "grader error", a defect no notebook should cause)."""
    extra = results["extra_data"]
    extra.update(student=submission.student, status=status, fingerprint_parts=parts or {})
    extra["fingerprint"] = fingerprint.combined(parts or {})
    target = result_file(out, submission)
    partial = target.with_suffix(".json.partial")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        os.replace(partial, target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        reason = f"{out}: cannot write results there ({exc.strerror or exc}); nothing more was graded"
        raise ResultsUnwritable(reason) from None
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
) -> tuple[list[Submission], dict[Submission, str]]:
    """Grade what is missing or changed in this shard; returns all submissions of the shard, and those graded now
    with why each was.

    Scores from here are published, so without confinement nothing is graded (``Unconfined``), unless
    ``allow_unconfined``: then each results.json and the CSV say so. SIGINT or SIGTERM stops it within seconds
    (``Stopped``), its sandboxes ended, what finished kept and in the CSV; a result that cannot be written stops it
    at once (``ResultsUnwritable``)."""
    from autograder.grading.grade import Unconfined  # noqa: PLC0415
    from autograder.sandbox.confinement import unavailable  # noqa: PLC0415

    reason = unavailable()
    if reason and not allow_unconfined:
        raise Unconfined(
            f"student code cannot be confined here ({reason}); run scripts/enable-confinement.sh, "
            "or pass --allow-unconfined to grade without confinement (every report and the CSV will say so)"
        )
    records = read_gradebook(gradebook) if gradebook else None
    sweep_leftovers()  # cgroups and scratch folders of gradings killed before they could clean up
    mine = [s for s in find_submissions(root, week) if in_shard(s.student, *shard)]
    reasons = {s: stale_reason(out, s, device, confined=reason is None) for s in mine}
    todo = {s: why for s, why in reasons.items() if why is not None}
    progress = tqdm(total=len(todo), desc="grading", unit="notebook", file=sys.stderr, disable=not todo)
    grade = functools.partial(grade_submission, out=out, device=device, root=root, allow_unconfined=allow_unconfined)
    try:
        with _stopped_by_signals():
            if jobs <= 1:
                _grade_in_turn(grade, list(todo), progress)
            else:
                _grade_in_pool(grade, list(todo), jobs, out, progress)
    except Stopped as stop:
        progress.close()
        write_csv(out, mine, records)
        stop.submissions = mine
        raise
    progress.close()
    write_csv(out, mine, records)
    return mine, todo


class Stopped(BaseException):
    """SIGINT or SIGTERM asked the batch to stop (a BaseException, as KeyboardInterrupt: no handler of grading's
    failures may swallow it)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.submissions: list[Submission] = []  # the shard's, set once the batch has stopped


class ResultsUnwritable(Exception):
    """A results.json could not be written (a full disk, a read-only folder): the batch stops before grading more."""


@contextlib.contextmanager
def _stopped_by_signals() -> Iterator[None]:
    """SIGINT and SIGTERM raise ``Stopped`` in the batch's main thread; a second signal while it stops, or later
    (while the process exits: the pool's finalizers run then), is ignored, so the exit status stays the first
    signal's. Left without a signal, the handlers that were there are put back."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    stopping = []

    def stop(signum: int, _frame: object) -> None:
        for number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(number, signal.SIG_IGN)
        stopping.append(signum)
        raise Stopped(signum)

    before = {number: signal.signal(number, stop) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in before.items():
            if not stopping:
                signal.signal(number, handler)


def _grade_in_turn(grade, todo: list[Submission], progress: tqdm) -> None:
    """``grade`` each submission in this process, one after another; where a core would sit idle meanwhile, the
    next notebook's process starts while the current one is judged (``spare_process``)."""
    with Spare() if _cpus() >= 2 else contextlib.nullcontext() as spare:
        for index, submission in enumerate(todo):
            following = todo[index + 1] if index + 1 < len(todo) else None
            grade(submission, spare=spare, following=following)
            progress.update()


def _cpus() -> int:
    """The CPUs this process may run on (its affinity: a container's or a runner's share, not the host's)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _grade_in_pool(grade, todo: list[Submission], jobs: int, out: Path, progress: tqdm) -> None:
    """``grade`` each submission in ``jobs`` pool processes; on ``Stopped`` or ``ResultsUnwritable`` the pool's
    processes are ended at once (and the sandboxes with them: each dies with the process that started it)."""
    context = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_pool_process)
    try:
        futures = {pool.submit(grade, s): s for s in todo}
        for future in as_completed(futures):
            try:
                future.result()
            except BrokenProcessPool as exc:  # a pool process died: its notebook is graded again next run
                lost = futures[future]
                reason = f"not graded: the grading process ended while grading this notebook ({exc})"
                write_result(out, lost, to_gradescope(_not_graded(lost, reason)), "grader error")
            progress.update()
    except BaseException:
        for process in list(getattr(pool, "_processes", {}).values()):
            process.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()


def spreadsheet_safe(value: object) -> object:
    """A CSV cell no spreadsheet runs as a formula: text starting with ``= + - @``, a tab or a CR gets a leading
    ``'`` (OWASP's advice for CSV injection); numbers, as numbers or as text (``-1.5``), are left as they are.
    Rows end in LF, as nbgrader's export writes them."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r") and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def _pool_process() -> None:
    """A pool process: signals are the batch's to handle (SIGINT ignored here, SIGTERM ends it), and with several
    notebooks at once each computes on one thread: N jobs on N cores, not N x N threads. The student's process
    inherits OMP_NUM_THREADS; set it yourself to override."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
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
                "student_id": clean(submission.student, 200),
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
    try:
        write_rows(partial, columns, rows)
        os.replace(partial, target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise ResultsUnwritable(f"{target}: cannot write the CSV ({exc.strerror or exc})") from None
    return target


def write_rows(path: Path, columns: list[str], rows: list[dict]) -> None:
    """``rows`` as CSV in ``path``: the csv module's quoting, every cell ``spreadsheet_safe``, LF line ends."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, restval="", extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows({key: spreadsheet_safe(value) for key, value in row.items()} for row in rows)


def _not_graded(submission: Submission, reason: str) -> GradeReport:
    """Every test of the week at 0 with the reason, so the student sees 0 out of the right total, part by part."""
    from autograder.grading.runner import grader_tests  # noqa: PLC0415

    report = GradeReport(notebook=str(submission.path), week=submission.week or "unknown", notes=[reason])
    if submission.week in WEEKS:
        report.tests = [replace(test, output=reason) for test in grader_tests(get_week(submission.week).grader_file)]
    return report


def merge_results(out: Path) -> Path:
    """``OUT/grades.csv`` from every ``OUT/<student>/<week>/results.json`` (e.g. the artifacts of all shards)."""
    found = [
        Submission(student_of(path.parent.parent.name), path, student_of(path.parent.name))
        for path in sorted(out.glob("*/*/results.json"))
    ]
    return write_csv(out, found)
