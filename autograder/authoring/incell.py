"""For instructors, in Jupyter: a hidden test cell of a *solution* notebook calls ``grade_part(week, part)``, which
runs that part's graders against the kernel's own names and shows their feedback and points.

It is an authoring aid, never a grader of students: in a kernel, the graders share a process with the code they
grade, which can rewrite them. Student notebooks are graded by ``dlgrade`` and, under ``nbgrader autograde``, by
``autograder.frontends.nbgrader.autograde.GradeInSandbox``, which starts no kernel. Released stubs hold no call to it
(nbgrader strips hidden tests), the sandbox cannot import it, and it refuses to run under nbgrader's execution
(``NBGRADER_EXECUTION``), so a course whose configuration still runs nbgrader's ``Execute`` scores every test
cell 0, not its points.

Two nbgrader rules shape its output: anything written to stderr by a test cell scores zero (so warnings and stray
output are swallowed while grading), and the test cell's output is feedback (the graders' messages, which name
inputs by shape only).
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import sys
import tempfile
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from autograder.running.limits import StudentTimeout
from autograder.sandbox.answering import Worker, describe_error


class PartScore(float):
    """A part's points; shown as a bare number, which is what nbgrader parses for partial credit."""

    def __repr__(self) -> str:
        return f"{float(self):g}"


class KernelNamespace:
    """Answers the graders' questions from a live namespace, in this process, with a time limit per question.

    It speaks the same requests as the student's process under ``dlgrade``, through the same ``Worker``, so a
    value comes back to the graders exactly as it would from the sandbox (copied through the wire format).
    """

    generation = 0

    def __init__(self, namespace: dict[str, Any], call_seconds: float):
        self.worker = Worker(as_main=False)
        self.worker.namespace = namespace
        self.call_seconds = call_seconds

    def ask(self, request: dict) -> dict:
        try:
            with _time_limit(self.call_seconds):
                return self.worker.answer(request)
        except _OutOfTime:
            raise StudentTimeout(
                f"no answer within the time limit (call_seconds={self.call_seconds:g}): "
                "is there an endless loop or input()?"
            ) from None
        except KeyboardInterrupt:
            raise  # nbgrader's own cell time-out: let it stop the cell
        except BaseException as exc:  # noqa: BLE001 - SystemExit too: a student's exit costs their answer only
            return {"ok": False, "error": describe_error(exc)}


def grade_part(week: str, part: str, namespace: dict[str, Any] | None = None, device: str | None = None) -> PartScore:
    """Grade one part against ``namespace`` (default: the caller's globals); print feedback, return the points."""
    from autograder.course.weeks import get_week  # noqa: PLC0415
    from autograder.grading.grade import resolve_device  # noqa: PLC0415 - keep the notebook's first import light
    from autograder.grading.runner import run_graders  # noqa: PLC0415
    from autograder.judging.student import Student  # noqa: PLC0415

    if os.environ.get("NBGRADER_EXECUTION"):
        raise RuntimeError(
            "grade_part does not grade under nbgrader: this course grades in dlgrade's sandbox; list "
            "autograder.frontends.nbgrader.autograde.GradeInSandbox in c.Autograde.autograde_preprocessors "
            "(nbgrader_config.py)"
        )
    chosen = get_week(week)
    if namespace is None:
        namespace = sys._getframe(1).f_globals
    device = resolve_device(device or os.environ.get("DLGRADE_DEVICE", "auto"))
    backend = KernelNamespace(namespace, chosen.limits.call_seconds)
    with _silent():
        results = run_graders(chosen.grader_file, Student(backend), device, parts={part}, folder=Path.cwd())
    if not results:
        raise LookupError(f"{chosen.grader_file.name} has no graders for part {part!r}")
    score = sum(result.score for result in results)
    for result in results:
        mark = "passed" if result.score == result.max_score else "failed"
        print(f"[{mark}] {result.name} ({result.score:g}/{result.max_score:g})")
        if result.output:
            print(f"    {result.output}")
    print(f"{part}: {score:g} of {sum(result.max_score for result in results):g} points")
    return PartScore(score)


class _OutOfTime(BaseException):
    """Raised in the student's call by the alarm; a BaseException so that ``except Exception`` cannot eat it."""


@contextlib.contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread() or seconds <= 0:
        yield
        return

    def _expire(*_: Any) -> None:
        raise _OutOfTime

    previous = signal.signal(signal.SIGALRM, _expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def _silent() -> Iterator[None]:
    """Nothing reaches stdout or stderr while grading, not even C-level writes to file descriptor 2."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            with (
                warnings.catch_warnings(),
                contextlib.redirect_stdout(io.StringIO()),
                contextlib.redirect_stderr(io.StringIO()),
            ):
                warnings.simplefilter("ignore")
                yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
