"""Run a week's hidden pytest graders in the grader's own process and collect points per test.

The graders are ordinary pytest modules: each test carries ``@points(n)`` and ``@part(grade_id)`` and takes the
``student`` fixture. A test earns its points when it passes. A failing test's feedback is the message of the
``Mismatch`` or ``StudentError`` it raised; anything else is a bug in the grader, reported as such, never
turned into points.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from autograder.course.weeks import GRADERS_DIR
from autograder.grading.report import TestResult
from autograder.judging.checks import Mismatch
from autograder.judging.disclosure import student_message
from autograder.judging.student import Student
from autograder.running.limits import StudentError

_EMPTY_INI = GRADERS_DIR / "pytest.ini"
_UNUSED_PLUGINS = (
    "unraisableexception",
    "threadexception",
    "logging",
    "faulthandler",
    "doctest",
    "junitxml",
    "pastebin",
    "stepwise",
    "setuponly",
    "setupplan",
    "legacypath",
    "tmpdir",
    "monkeypatch",
    "recwarn",
    "unittest",
    "subtests",
)
"""pytest's own plugins the graders never use (they take only this module's fixtures). Each costs setup per
notebook, and unraisableexception's teardown runs gc.collect() five times over a heap holding torch: with them
off, the parent's CPU per week-1 notebook fell from 0.62 s to 0.18 s (benchmarks/batch_profile.py)."""


class _Collector:
    """A pytest plugin: provides the ``student`` fixture and records each test's outcome."""

    def __init__(self, student: Student | None, device: str, parts: set[str] | None = None, folder: Path | None = None):
        self._student, self._device, self._parts, self._folder = student, device, parts, folder
        self.results: dict[str, TestResult] = {}
        self.collection_errors: list[str] = []

    @pytest.fixture(scope="session")
    def student(self) -> Student:
        if self._student is None:
            pytest.fail("no student notebook to grade")
        return self._student

    @pytest.fixture(scope="session")
    def device(self) -> str:
        return self._device

    @pytest.fixture(scope="session")
    def submission_folder(self) -> Path:
        """The folder the notebook was handed in with: where files it writes (trained weights) are found."""
        if self._folder is None:
            pytest.fail("no submission folder: the notebook's own files cannot be graded")
        return self._folder

    def pytest_configure(self, config: pytest.Config) -> None:
        config.addinivalue_line("markers", "points(n): points a grader test is worth")
        config.addinivalue_line("markers", "part(grade_id): the notebook part a grader test belongs to")

    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        if self._parts is not None:
            chosen = [item for item in items if _part_of(item) in self._parts]
            config.hook.pytest_deselected(items=[item for item in items if item not in chosen])
            items[:] = chosen
        for item in items:
            points = item.get_closest_marker("points")
            part = item.get_closest_marker("part")
            if points is None or part is None:
                raise pytest.UsageError(f"grader test {item.nodeid} needs both @points(n) and @part(grade_id)")
            self.results[item.nodeid] = TestResult(
                name=_title(item), part=str(part.args[0]), max_score=float(points.args[0]), score=0.0
            )

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.collection_errors.append(f"{report.nodeid}: {report.longreprtext.strip().splitlines()[-1:]}")

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo) -> Any:
        outcome = yield
        report = outcome.get_result()
        result = self.results.get(item.nodeid)
        if result is None or report.when == "teardown" and report.passed:
            return
        if report.passed and report.when == "call":
            result.score = result.max_score
        elif report.failed:
            result.score = 0.0
            result.output, result.grader_error = _feedback(call.excinfo)
            result.reference = getattr(call.excinfo.value, "reference", "") if call.excinfo else ""
        elif report.skipped:
            result.output = "not graded here: " + _skip_reason(report)


def run_graders(
    grader_file: Path,
    student: Student | None,
    device: str = "cpu",
    parts: set[str] | None = None,
    folder: Path | None = None,
) -> list[TestResult]:
    """Every test in ``grader_file`` (or only those of ``parts``) with its points, in the file's order.

    ``folder`` is where the notebook was handed in, for graders of the files it writes.
    """
    return _run(grader_file, student, device, [], parts, folder)


def grader_tests(grader_file: Path) -> list[TestResult]:
    """Every test in ``grader_file`` with its part and points, unscored (collection alone, nothing is run)."""
    return _run(grader_file, None, "cpu", ["--collect-only"])


def grader_points(grader_file: Path) -> dict[str, float]:
    """Points per part in ``grader_file``, from collection alone (nothing is run)."""
    points: dict[str, float] = {}
    for test in grader_tests(grader_file):
        points[test.part] = points.get(test.part, 0.0) + test.max_score
    return points


def _run(
    grader_file: Path,
    student: Student | None,
    device: str,
    extra: list[str],
    parts: set[str] | None = None,
    folder: Path | None = None,
) -> list[TestResult]:
    collector = _Collector(student, device, parts, folder)
    args = [
        *extra,
        str(grader_file),
        "-c",
        str(_EMPTY_INI),
        "--rootdir",
        str(grader_file.parent),
        "--confcutdir",
        str(grader_file.parent),
        "-p",
        "no:cacheprovider",
        "-p",
        "no:randomly",
        *(arg for plugin in _UNUSED_PLUGINS for arg in ("-p", f"no:{plugin}")),
        "-q",
        "--capture=no",
        "--import-mode=importlib",
        "--tb=no",
        "--no-header",
        "-W",
        "ignore::pytest.PytestAssertRewriteWarning",
    ]
    with _no_plugin_autoload(), contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        code = pytest.main(args, plugins=[collector])
    if collector.collection_errors or code in (pytest.ExitCode.INTERNAL_ERROR, pytest.ExitCode.USAGE_ERROR):
        raise RuntimeError(f"the graders in {grader_file} could not run: {collector.collection_errors or code}")
    return list(collector.results.values())


@contextlib.contextmanager
def _no_plugin_autoload() -> Iterator[None]:
    """Third-party pytest plugins installed beside the grader (pytest-randomly, anyio's) stay out of grading: they
    could reorder, time or rerun the graders, and loading them costs every notebook."""
    before = os.environ.get(_AUTOLOAD)
    os.environ[_AUTOLOAD] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(_AUTOLOAD, None)
        else:
            os.environ[_AUTOLOAD] = before


_AUTOLOAD = "PYTEST_DISABLE_PLUGIN_AUTOLOAD"


def _feedback(excinfo: pytest.ExceptionInfo | None) -> tuple[str, bool]:
    """The student-facing message, and whether the failure was the grader's own bug."""
    if excinfo is None:
        return "failed", False
    if excinfo.errisinstance((Mismatch, StudentError)):
        return str(excinfo.value), False
    if excinfo.errisinstance(pytest.fail.Exception):
        return str(excinfo.value), False
    detail = student_message(str(excinfo.value))  # a grader's own error may hold its references
    return f"internal grader error ({excinfo.typename}: {detail}); your instructor has been told", True


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    return str(longrepr[2]).removeprefix("Skipped: ") if isinstance(longrepr, tuple) else str(longrepr)


def _part_of(item: pytest.Item) -> str | None:
    marker = item.get_closest_marker("part")
    return str(marker.args[0]) if marker is not None else None


def _title(item: pytest.Item) -> str:
    """The test's docstring's first paragraph, on one line: what it checks, in the student's terms."""
    doc = getattr(item, "obj", None).__doc__ if hasattr(item, "obj") else None
    return " ".join(doc.strip().split("\n\n")[0].split()).rstrip(".") if doc else item.name
