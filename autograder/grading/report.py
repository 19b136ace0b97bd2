"""Grading results and the formats they are written in.

Gradescope's ``results.json`` is the canonical form (score, max_score, tests with name, score, max_score,
output, status); Markdown (a GitHub job summary), JUnit XML (CI test views) and a terminal table are
rendered from the same ``GradeReport``. The parent process writes all of them, never the student's.

Much of a report's text came from the student's side (error messages, printed output, file names), so every
report is ``bounded`` before it is written: each text made valid Unicode and cut to its limit (the README's
"Limits"), which puts a ceiling on a report's size whatever the notebook does; and each format shows control and
escape characters as text instead of sending them.
"""

from __future__ import annotations

import json
import os
import re
import textwrap
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field, replace
from typing import TextIO

from autograder.judging.disclosure import FEEDBACK_LEVELS
from autograder.sandbox import text

OUTPUT_CHARS = 2000
"""One test's feedback."""
NOTE_CHARS, MAX_NOTES = 500, 40
"""One note about the notebook as a whole, and how many are kept."""
NAME_CHARS = 300
"""A notebook's label (its path) and a test's name."""
PRINTED_CHARS = 20_000
"""What the notebook printed, kept for views of it (Limits.output_bytes keeps no more)."""
MAX_REPORT_BYTES = 1024 * 1024
"""The most any format of one report takes: 40 tests and 40 notes at their limits, each character written as at
most 6 bytes (a JSON escape), fit well within it."""

_UNPRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ufffe\uffff]")
"""Control characters (ANSI escapes start with one), and those that reorder or hide text (bidi overrides, zero
widths, line separators) or that XML 1.0 cannot hold."""
_MARKDOWN_INLINE = re.compile(r"([\\`*_\[\]!~|$:])")
"""What starts an inline element anywhere in a line (code, emphasis, links, images, strikethrough, tables, math,
emoji, autolinks); ``& < >`` are written as entities instead."""
_MARKDOWN_BLOCK = re.compile(r"^(\d*)([#+\-=.)])")
"""What starts a block element (a heading, a list, a quote) at the start of a cell's text."""


@dataclass
class TestResult:
    """One hidden grader test: what it is worth and what the student got."""

    __test__ = False  # a result, not a pytest test class, for all its name

    name: str
    part: str
    max_score: float
    score: float
    output: str = ""
    grader_error: bool = False
    reference: str = ""
    """What the right answer is, where the test knows: shown only at the ``open`` feedback level (``with_feedback``)."""

    @property
    def status(self) -> str:
        return "passed" if self.score >= self.max_score else "failed"


@dataclass
class GradeReport:
    """The whole verdict for one notebook."""

    notebook: str
    week: str
    tests: list[TestResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    printed: str = ""
    seconds: float = 0.0
    confined: bool = True

    @property
    def score(self) -> float:
        return round(sum(test.score for test in self.tests), 6)

    @property
    def max_score(self) -> float:
        return round(sum(test.max_score for test in self.tests), 6)

    def by_part(self) -> dict[str, tuple[float, float]]:
        """Score and maximum per notebook part, in the order the parts were graded."""
        parts: dict[str, tuple[float, float]] = {}
        for test in self.tests:
            score, maximum = parts.get(test.part, (0.0, 0.0))
            parts[test.part] = (score + test.score, maximum + test.max_score)
        return parts


def bounded(report: GradeReport) -> GradeReport:
    """A copy of ``report`` with every text valid Unicode and within its limit; bounding twice changes nothing."""
    notes = report.notes[:MAX_NOTES]
    if len(report.notes) > MAX_NOTES:
        notes.append(f"{len(report.notes) - MAX_NOTES} more notes cut")
    return replace(
        report,
        notebook=text.clean(report.notebook, NAME_CHARS),
        week=text.clean(report.week, NAME_CHARS),
        notes=[text.clean(note, NOTE_CHARS) for note in notes],
        printed=text.clean(report.printed, PRINTED_CHARS),
        tests=[
            replace(
                test,
                name=text.clean(test.name, NAME_CHARS),
                part=text.clean(test.part, NAME_CHARS),
                output=text.clean(test.output, OUTPUT_CHARS),
                reference=text.clean(test.reference, NOTE_CHARS),
            )
            for test in report.tests
        ],
    )


def with_feedback(report: GradeReport, level: str) -> GradeReport:
    """``report`` as students may read it at feedback ``level`` (``autograder.judging.disclosure.FEEDBACK_LEVELS``): at
    ``open`` each failed test's feedback ends with its reference; at ``hidden`` the references are dropped."""
    if level not in FEEDBACK_LEVELS:
        raise ValueError(f"feedback level {level!r}: expected one of {', '.join(FEEDBACK_LEVELS)}")

    def told(test: TestResult) -> TestResult:
        if level == "open" and test.reference and test.status == "failed":
            return replace(test, output=f"{test.output}\n(the reference: {test.reference})", reference="")
        return replace(test, reference="")

    return replace(report, tests=[told(test) for test in report.tests])


def shown(value: str) -> str:
    """``value`` with control and escape characters written out (``\\x1b``), never sent: no terminal, XML parser or
    viewer acts on them. Newlines and tabs stay."""
    return _UNPRINTABLE.sub(_written_out, value)


def _written_out(match: re.Match) -> str:
    code = ord(match.group(0))
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def to_gradescope(report: GradeReport) -> dict:
    """Gradescope's results.json schema, plus ``week`` and ``notebook`` in ``extra_data``, and the tests'
    ``references`` where the report still holds them (a batch's results, which stay with the instructor; what
    students read goes through ``with_feedback`` first)."""
    report = bounded(report)
    output = "\n".join(report.notes)
    references = {str(n): test.reference for n, test in enumerate(report.tests, start=1) if test.reference}
    return {
        "score": _number(report.score),
        "max_score": _number(report.max_score),
        "execution_time": round(report.seconds, 2),
        "output": output,
        "tests": [
            {
                "name": test.name,
                "number": str(number),
                "score": _number(test.score),
                "max_score": _number(test.max_score),
                "status": test.status,
                "output": test.output,
                "tags": [test.part],
                "visibility": "visible",
            }
            for number, test in enumerate(report.tests, start=1)
        ],
        "extra_data": {
            "week": report.week,
            "notebook": report.notebook,
            "confined": report.confined,
            **({"references": references} if references else {}),
        },
    }


def from_gradescope(results: dict) -> GradeReport:
    """A report back from its results.json (to render it again, e.g. as Markdown for a check run)."""
    extra = results.get("extra_data", {})
    report = GradeReport(notebook=str(extra.get("notebook", "")), week=str(extra.get("week", "")))
    report.confined = extra.get("confined", True) is not False
    references = extra.get("references") if isinstance(extra.get("references"), dict) else {}
    report.tests = [
        TestResult(
            name=str(test.get("name", "")),
            part=str((test.get("tags") or [""])[0]),
            max_score=float(test.get("max_score", 0)),
            score=float(test.get("score", 0)),
            output=str(test.get("output", "")),
            reference=str(references.get(str(test.get("number", "")), "")),
        )
        for test in results.get("tests", [])
    ]
    report.notes = [line for line in str(results.get("output", "")).splitlines() if line]
    report.seconds = float(results.get("execution_time", 0.0))
    return report


def to_json(report: GradeReport) -> str:
    return json.dumps(to_gradescope(report), indent=2, ensure_ascii=False) + "\n"


def to_markdown(report: GradeReport) -> str:
    """A job-summary table: one row per test, failures with their feedback."""
    report = bounded(report)
    lines = [
        f"## {report.week}: {_number(report.score)} / {_number(report.max_score)}",
        "",
        _md_cell(report.notebook),
        "",
        *([f"> **Warning:** {_md_cell(report.notes[0])}", ""] if not report.confined and report.notes else []),
        "| | part | test | points | feedback |",
        "|---|---|---|---|---|",
    ]
    for test in report.tests:
        mark = "✅" if test.status == "passed" else "❌"
        feedback = _md_cell(test.output) if test.status == "failed" else ""
        lines.append(
            f"| {mark} | {test.part} | {_md_cell(test.name)} | "
            f"{_number(test.score)}/{_number(test.max_score)} | {feedback} |"
        )
    if report.notes:
        lines += ["", "**Notes**", ""] + [f"- {_md_cell(note)}" for note in report.notes]
    return "\n".join(lines) + "\n"


def to_junit(report: GradeReport) -> str:
    """JUnit XML: a test case per grader test; failed ones carry their feedback."""
    report = _each_text(bounded(report), shown)  # XML 1.0 cannot hold most control characters, even escaped
    failures = sum(test.status == "failed" for test in report.tests)
    suite = ET.Element(
        "testsuite",
        name=report.week,
        tests=str(len(report.tests)),
        failures=str(failures),
        errors="0",
        time=f"{report.seconds:.3f}",
    )
    for test in report.tests:
        case = ET.SubElement(suite, "testcase", classname=f"{report.week}.{test.part}", name=test.name)
        case.set("points", f"{_number(test.score)}/{_number(test.max_score)}")
        if test.status == "failed":
            ET.SubElement(case, "failure", message=test.output[:500]).text = test.output
    if report.notes:
        ET.SubElement(suite, "system-out").text = "\n".join(report.notes)
    ET.indent(suite)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"


def to_table(report: GradeReport, colour: bool = False, width: int | None = None) -> str:
    """The terminal view: a row per test, feedback under failures, then notes and the total. ``colour``: PASS and
    FAIL in green and red (``use_colour`` says when); the only escape sequences in it are these, the grader's.
    ``width``: the terminal's columns; names, feedback and notes are wrapped to fit (None: one line each)."""
    report = _each_text(bounded(report), shown)
    paint = _PAINT if colour else {}
    longest = max([len(test.name) for test in report.tests] + [20])
    name_width = longest if width is None else max(20, min(longest, width - len("  PASS    1.25/25")))
    lines = [f"{report.notebook}  ({report.week})", ""]
    if not report.confined and report.notes:  # the first note says why: a reader must see it before any score
        lines += _wrapped(f"WARNING: {report.notes[0]}", "  ", "  ", width) + [""]
    for test in report.tests:
        mark = "PASS" if test.status == "passed" else "FAIL"
        points = f"{_number(test.score)}/{_number(test.max_score)}"
        start, end = paint.get(mark, ""), paint.get("end", "")
        name, *rest = _wrapped(test.name, "", "", None if width is None else name_width)
        lines.append(f"  {start}{mark}{end}  {name:<{name_width}}  {points:>7}")
        lines += [f"        {more}" for more in rest]
        if test.status == "failed" and test.output:
            for line in test.output.splitlines():
                lines += _wrapped(line, "        ", "          ", width)
    if report.notes:
        lines += ["", "Notes:"]
        for note in report.notes:
            lines += _wrapped(note, "  - ", "    ", width)
    lines += ["", f"Total: {_number(report.score)} / {_number(report.max_score)}"]
    return "\n".join(lines) + "\n"


def _wrapped(text: str, first: str, then: str, width: int | None) -> list[str]:
    """``text`` as lines of at most ``width`` columns (None: one line), starting ``first``, then ``then``."""
    if width is None:
        return [first + text]
    room = max(20, width - len(then))
    return textwrap.wrap(
        text, width=room + len(then), initial_indent=first, subsequent_indent=then, break_on_hyphens=False
    ) or [first]


_PAINT = {"PASS": "\x1b[32m", "FAIL": "\x1b[31m", "end": "\x1b[0m"}


def use_colour(stream: TextIO) -> bool:
    """Colour for a terminal only, and never where ``NO_COLOR`` is set (https://no-color.org)."""
    return not os.environ.get("NO_COLOR") and hasattr(stream, "isatty") and stream.isatty()


FORMATS = {"table": to_table, "json": to_json, "markdown": to_markdown, "junit": to_junit}


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else round(value, 4)


def _each_text(report: GradeReport, change) -> GradeReport:
    return replace(
        report,
        notebook=change(report.notebook),
        notes=[change(note) for note in report.notes],
        tests=[replace(test, name=change(test.name), output=change(test.output)) for test in report.tests],
    )


def _md_cell(value: str) -> str:
    """Text in a Markdown table cell, one line, rendered as the text it is: every punctuation mark that could
    start Markdown (links, images, emphasis, code, headings) escaped, and HTML written as entities, so no tag, no
    comment hiding the rest, no element at all comes from the student."""
    escaped = _MARKDOWN_BLOCK.sub(r"\1\\\2", _MARKDOWN_INLINE.sub(r"\\\1", shown(value)))
    escaped = escaped.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return escaped.replace("\n", "<br>")
