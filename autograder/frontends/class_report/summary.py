"""What a class's results add up to: scores per week, how each part went, the failures students share, the
limits notebooks hit, and who is missing, late or could not be graded.

Failures are grouped by the hint they carry: a feedback message with its numbers, shapes and tensor descriptions
taken out, so "expected shape (2, 3), got (3, 2): is W transposed?" and the same slip on other sizes are one group.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass, field

from autograder.frontends.class_report.collect import ClassResults, Graded

_TENSOR = re.compile(r"<[^<>]*\btensor\b[^<>]*>")  # <tensor of shape (2, 3), float32>, <non-contiguous tensor ...>
_CALL = re.compile(r"[A-Za-z_]\w*\(")  # the call a message opens with: its arguments are the test's own inputs
_WHERE = "(at your answer cell"  # where in the student's code it failed, with their line
_TUPLE = re.compile(r"[(\[](?:\s*-?[\d.]+(?:e[-+]?\d+)?\s*,?)+[)\]]")
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?:e[-+]?\d+)?%?(?!\w)")
_DTYPE = re.compile(r"\b(?:torch\.)?(?:u?int(?:8|16|32|64)|float(?:16|32|64)|bfloat16|complex(?:64|128)|bool)\b")
_LIMIT = {  # the limit a note or a test's feedback names, as report.py and student_process.py word them
    "time": re.compile(r"total_seconds|cell_seconds|call_seconds"),
    "memory": re.compile(r"memory_mb|out of memory"),
    "disk": re.compile(r"disk_mb|scratch space"),
    "processes": re.compile(r"limit processes|no process limit"),
    "output": re.compile(r"output_bytes"),
    "restart": re.compile(r"was restarted"),
}


def hint_of(message: str) -> str:
    """The message with what varies between students and tests taken out: the inputs of the call it opens with,
    where in the student's code it failed, numbers, shapes, dtypes and tensor descriptions."""
    text = message.strip().splitlines()[0] if message.strip() else ""
    text = _TENSOR.sub("<tensor>", text)
    call = _CALL.match(text)
    if call:
        text = text[: call.end()] + "…" + text[_closing(text, call.end() - 1) :]
    while _WHERE in text:
        at = text.index(_WHERE)
        text = text[:at].rstrip() + text[_closing(text, at) + 1 :]
    text = _TUPLE.sub(lambda m: "(…)" if m.group(0).startswith("(") else "[…]", text)
    return _DTYPE.sub("DTYPE", _NUMBER.sub("N", text))[:300]


def _closing(text: str, opening: int) -> int:
    """The index of the bracket that closes the one at ``opening`` (the end of ``text`` if none does)."""
    depth = 0
    for index in range(opening, len(text)):
        depth += {"(": 1, "[": 1, ")": -1, "]": -1}.get(text[index], 0)
        if depth == 0:
            return index
    return len(text)


@dataclass
class WeekSummary:
    week: str
    max_score: float
    scores: list[float]

    @property
    def quartiles(self) -> tuple[float, float, float]:
        if len(self.scores) < 2:
            value = self.scores[0] if self.scores else 0.0
            return value, value, value
        q1, median, q3 = statistics.quantiles(self.scores, n=4, method="inclusive")
        return q1, median, q3

    @property
    def mean(self) -> float:
        return statistics.fmean(self.scores) if self.scores else 0.0


@dataclass
class PartSummary:
    week: str
    part: str
    points: float
    earned: list[float] = field(default_factory=list)  # one per student graded

    @property
    def mean(self) -> float:
        return statistics.fmean(self.earned) if self.earned else 0.0

    @property
    def pass_rate(self) -> float:
        """The share of students with every point of the part."""
        return sum(e >= self.points for e in self.earned) / len(self.earned) if self.earned else 0.0


@dataclass
class FailureGroup:
    week: str
    part: str
    hint: str
    example: str  # one student's message as it was
    students: set[str] = field(default_factory=set)
    tests: set[str] = field(default_factory=set)


@dataclass
class Summary:
    weeks: list[WeekSummary]
    parts: list[PartSummary]
    failures: list[FailureGroup]  # within each week, the groups with most students first
    limits: list[tuple[str, str, str, str]]  # (student, week, limit, what was said)
    missing: list[tuple[str, str, str]]  # (student, week, why: missing, late, not gradable, grader error)


def summarize(results: ClassResults) -> Summary:
    weeks = sorted(results.weeks)
    by_week = {week: [g for g in results.graded if g.week == week] for week in weeks}
    return Summary(
        weeks=[WeekSummary(w, max(g.max_score for g in by_week[w]), [g.score for g in by_week[w]]) for w in weeks],
        parts=[part for week in weeks for part in _parts(week, by_week[week])],
        failures=_failures(results.graded),
        limits=[row for g in results.graded for row in _limits(g)],
        missing=_missing(results, by_week),
    )


def _parts(week: str, graded: list[Graded]) -> list[PartSummary]:
    parts: dict[str, PartSummary] = {}
    for entry in graded:
        earned: dict[str, float] = {}
        for test in entry.tests:
            parts.setdefault(test.part, PartSummary(week, test.part, 0.0))
            earned[test.part] = earned.get(test.part, 0.0) + test.score
        for part, points in earned.items():
            parts[part].earned.append(points)
    for part in parts.values():  # a part's points: its tests' points, from any complete result
        part.points = max(sum(t.max_score for t in g.tests if t.part == part.part) for g in graded)
    return list(parts.values())


def _failures(graded: list[Graded]) -> list[FailureGroup]:
    groups: dict[tuple[str, str, str], FailureGroup] = {}
    for entry in graded:
        for test in entry.tests:
            if test.score >= test.max_score or not test.output.strip():
                continue
            hint = hint_of(test.output)
            key = (entry.week, test.part, hint)
            group = groups.setdefault(key, FailureGroup(entry.week, test.part, hint, test.output))
            group.students.add(entry.student)
            group.tests.add(test.name)
    return sorted(groups.values(), key=lambda g: (g.week, -len(g.students), g.part, g.hint))


def _limits(entry: Graded) -> list[tuple[str, str, str, str]]:
    said = list(entry.notes) + [test.output for test in entry.tests if test.score < test.max_score]
    rows = [(entry.student, entry.week, "unconfined", entry.notes[0] if entry.notes else "")] * (not entry.confined)
    for kind, pattern in _LIMIT.items():
        hit = next((text for text in said if pattern.search(text)), None)
        if hit is not None:
            rows.append((entry.student, entry.week, kind, hit.splitlines()[0][:300]))
    return rows


def _missing(results: ClassResults, by_week: dict[str, list[Graded]]) -> list[tuple[str, str, str]]:
    rows = []
    for week, graded in by_week.items():
        present = {g.student: g for g in graded}
        for student in results.students:
            entry = present.get(student)
            if entry is None:
                rows.append((student, week, "missing: no results for this week"))
            elif entry.status != "graded":
                rows.append((student, week, f"{entry.status}: {entry.notes[0] if entry.notes else ''}".rstrip(": ")))
            if (student, week) in results.late:
                rows.append((student, week, f"late: {results.late[(student, week)]}"))
    return rows
