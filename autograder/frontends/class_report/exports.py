"""The report's tables as data: one CSV per table (spreadsheet-safe cells, as grades.csv; a list of students is
one cell, joined by "; "), all of them in one JSON file, and the per-part summary for a terminal (student text
with its control characters written out)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from autograder.frontends.batch.run import write_rows
from autograder.frontends.class_report.collect import ClassResults
from autograder.frontends.class_report.similarity import Pair
from autograder.frontends.class_report.summary import Summary
from autograder.grading.report import shown

TABLES = ("scores", "parts", "failures", "limits", "missing", "similar")


def tables(results: ClassResults, summary: Summary, pairs: list[Pair] | None) -> dict[str, list[dict]]:
    """Every table of the report, as rows of plain values."""
    return {
        "scores": [
            {"student": g.student, "week": g.week, "score": g.score, "max_score": g.max_score, "status": g.status}
            for g in sorted(results.graded, key=lambda g: (g.week, g.student))
        ],
        "parts": [
            {
                "week": p.week,
                "part": p.part,
                "points": p.points,
                "mean": round(p.mean, 4),
                "full_points_rate": round(p.pass_rate, 4),
                "students": len(p.earned),
            }
            for p in summary.parts
        ],
        "failures": [
            {
                "week": f.week,
                "part": f.part,
                "students": len(f.students),
                "hint": f.hint,
                "example": f.example,
                "tests": sorted(f.tests),
                "who": sorted(f.students),
            }
            for f in summary.failures
        ],
        "limits": [{"student": s, "week": w, "limit": k, "said": t} for s, w, k, t in summary.limits],
        "missing": [{"student": s, "week": w, "why": why} for s, w, why in summary.missing],
        "similar": [
            {
                "week": p.week,
                "first": p.first,
                "second": p.second,
                "share_of_first": round(p.shares[0], 4),
                "share_of_second": round(p.shares[1], 4),
                "shared_characters": p.overlap,
            }
            for p in pairs or []
        ],
    }


def export_names(page: Path) -> dict[str, str]:
    """The files beside ``page`` that hold its tables: ``<stem>.json`` and ``<stem>-<table>.csv``."""
    return {"json": f"{page.stem}.json", **{name: f"{page.stem}-{name}.csv" for name in TABLES}}


def write_exports(page: Path, data: dict[str, list[dict]]) -> list[Path]:
    names = export_names(page)
    written = [page.with_name(names["json"])]
    written[0].write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    for table, rows in data.items():
        columns = list(rows[0]) if rows else _COLUMNS[table]
        flat = [{k: "; ".join(v) if isinstance(v, list) else v for k, v in row.items()} for row in rows]
        write_rows(page.with_name(names[table]), columns, flat)
        written.append(page.with_name(names[table]))
    return written


_COLUMNS = {
    "scores": ["student", "week", "score", "max_score", "status"],
    "parts": ["week", "part", "points", "mean", "full_points_rate", "students"],
    "failures": ["week", "part", "students", "hint", "example", "tests", "who"],
    "limits": ["student", "week", "limit", "said"],
    "missing": ["student", "week", "why"],
    "similar": ["week", "first", "second", "share_of_first", "share_of_second", "shared_characters"],
}


def to_terminal(summary: Summary, pairs: list[Pair] | None, width: int = 100) -> str:
    """Per week: the score distribution, then a row per part with its most frequent failure, cut to ``width``."""
    lines = []
    for week in summary.weeks:
        q1, median, q3 = week.quartiles
        lines += [
            f"{week.week}: {len(week.scores)} graded, median {median:g} / {week.max_score:g} "
            f"(quartiles {q1:g}-{q3:g}, mean {week.mean:.1f})",
            f"  {'part':<22} {'points':>6} {'mean':>6} {'full':>5}  most frequent failure",
        ]
        for part in (p for p in summary.parts if p.week == week.week):
            top = next((f for f in summary.failures if f.week == week.week and f.part == part.part), None)
            said = f"{len(top.students)}: {shown(top.hint)}" if top else ""
            row = f"  {part.part:<22} {part.points:>6g} {part.mean:>6.2f} {part.pass_rate:>5.0%}  "
            lines.append((row + textwrap.shorten(said, max(20, width - len(row)), placeholder=" …")).rstrip())
        lines.append("")
    if summary.limits:
        lines.append(f"{len(summary.limits)} limit(s) hit or unconfined gradings (see the page's table)")
    if summary.missing:
        lines.append(f"{len(summary.missing)} missing, late or ungradable notebook(s)")
    for pair in (pairs or [])[:10]:
        first, second = shown(pair.first), shown(pair.second)
        lines.append(f"alike ({pair.week}): {first} and {second}, {pair.shares[0]:.0%} / {pair.shares[1]:.0%}")
    return "\n".join(lines).rstrip() + "\n"
