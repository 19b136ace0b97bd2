"""Every graded notebook of a class, read from the results folders a batch or the workflow wrote.

A results folder holds ``<student>/<week>/results.json`` at any depth (``results/``, the workflow's
``grades/results/`` and each shard's ``results-<n>/``); the same notebook found twice is read once. A file that
cannot be read is one line in ``problems``, naming it and why; every other file is still read.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from tqdm import tqdm

from autograder.frontends.batch.run import student_of
from autograder.grading.report import TestResult, from_gradescope
from autograder.sandbox.text import clean

MAX_RESULTS_BYTES = 4_000_000
"""A results.json is at most a few hundred kilobytes (report.py bounds every text); past this it is not one."""


@dataclass
class Graded:
    """One student's results for one week."""

    student: str
    week: str
    score: float
    max_score: float
    tests: list[TestResult]
    notes: list[str]
    confined: bool
    status: str  # "graded", "not gradable" (the notebook's fault) or "grader error"
    path: Path


@dataclass
class ClassResults:
    graded: list[Graded] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    late: dict[tuple[str, str], str] = field(default_factory=dict)  # (student, week): "submitted ..., due ..."
    roster: list[str] = field(default_factory=list)  # students expected, from --roster (empty: those found)

    @property
    def weeks(self) -> list[str]:
        return sorted({g.week for g in self.graded})

    @property
    def students(self) -> list[str]:
        return sorted({g.student for g in self.graded} | set(self.roster))


def read_class(roots: Iterable[Path], roster: Path | None = None, progress: bool = False) -> ClassResults:
    """The results under every folder of ``roots``, the late submissions their grades.csv records, the roster."""
    results = ClassResults()
    paths = []
    for root in roots:
        if not root.is_dir():
            results.problems.append(f"{root}: not a folder of results")
            continue
        paths += sorted(p for p in root.rglob("results.json") if p.is_file() and not p.is_symlink())
        for grades in sorted(root.rglob("grades.csv")):
            results.late.update(_late(grades, results.problems))
    seen: dict[tuple[str, str], Path] = {}
    for path in tqdm(paths, desc="reading", unit="result", disable=not progress, leave=False):
        graded = _read(path, results.problems)
        if graded is None:
            continue
        key = (graded.student, graded.week)
        if key in seen:
            continue  # the merged copy of a shard's result (grades/results/ beside results-<n>/)
        seen[key] = path
        results.graded.append(graded)
    if roster is not None:
        results.roster = _roster(roster, results.problems)
    return results


def _read(path: Path, problems: list[str]) -> Graded | None:
    try:
        if path.stat().st_size > MAX_RESULTS_BYTES:
            problems.append(f"{path}: larger than {MAX_RESULTS_BYTES} bytes, not a results.json; skipped")
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        report = from_gradescope(data)
        extra = data.get("extra_data") or {}
        student = str(extra.get("student") or student_of(path.parent.parent.name))
        return Graded(
            student=clean(student, 200),
            week=clean(report.week or path.parent.name, 200),
            score=float(data["score"]),
            max_score=float(data["max_score"]),
            tests=report.tests,
            notes=report.notes,
            confined=report.confined,
            status=clean(str(extra.get("status", "graded")), 40),
            path=path,
        )
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"{path}: cannot be read ({exc})")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        problems.append(f"{path}: not a results.json ({type(exc).__name__}: {exc})"[:300])
    return None


def _late(grades: Path, problems: list[str]) -> dict[tuple[str, str], str]:
    """(student, week) -> when, for each row of nbgrader's export columns submitted after its due date."""
    late = {}
    try:
        with grades.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                due, stamp = _when(row.get("duedate")), _when(row.get("timestamp"))
                if due and stamp and stamp > due:
                    key = (str(row.get("student_id", "")), str(row.get("assignment", "")))
                    late[key] = f"submitted {stamp:%Y-%m-%d %H:%M}, due {due:%Y-%m-%d %H:%M}"
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        problems.append(f"{grades}: cannot be read ({exc})")
    return late


def _when(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text.replace(" UTC", "+00:00").strip())
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)  # nbgrader's naive times are UTC


def _roster(path: Path, problems: list[str]) -> list[str]:
    """The student ids of a roster CSV: nbgrader's (``id``) or the workflow's (``student``) columns."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        problems.append(f"{path}: cannot be read ({exc})")
        return []
    column = next((name for name in ("id", "student", "student_id") if rows and name in rows[0]), None)
    if column is None:
        problems.append(f"{path}: no id, student or student_id column; the roster is not used")
        return []
    return sorted({clean(row[column], 200) for row in rows if row[column]})
