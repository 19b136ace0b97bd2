"""The report as one self-contained HTML page: plots inline, the one script (table sorting) inline and the only
one allowed to run (its hash in the page's Content-Security-Policy), no request to anything. Jinja escapes every
value; the only markup passed through is this project's own (the script, and the similarity view, which
similarity.py escapes before marking the matching stretches)."""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime, timezone
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from autograder.course.weeks import PACKAGE_DIR
from autograder.frontends.class_report import plots
from autograder.frontends.class_report.collect import ClassResults
from autograder.frontends.class_report.exports import export_names
from autograder.frontends.class_report.similarity import Pair
from autograder.frontends.class_report.summary import Summary

TEMPLATES = PACKAGE_DIR / "templates" / "class_report"


def render(
    results: ClassResults,
    summary: Summary,
    pairs: list[Pair] | None,
    page: Path,
    sources: list[str],
    threshold: float,
) -> str:
    environment = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined)
    script = (TEMPLATES / "sort_tables.js").read_text(encoding="utf-8")
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    scores = {(g.student, g.week): g for g in results.graded}
    drawn = {
        week.week: {
            "histogram": plots.score_histogram(week),
            "parts": plots.part_chart([p for p in summary.parts if p.week == week.week]),
        }
        for week in summary.weeks
    }
    return environment.get_template("report.html.j2").render(
        summary=summary,
        weeks=[week.week for week in summary.weeks],
        students=results.students,
        scores=scores,
        totals={s: sum(g.score for (who, _), g in scores.items() if who == s) for s in results.students},
        plots=drawn,
        similarity=pairs,
        threshold=threshold,
        problems=results.problems,
        exports=export_names(page),
        sources=sources,
        made=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        script=script,
        script_hash=f"sha256-{digest}",
    )
