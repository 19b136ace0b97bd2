"""``dlgrade report``: the class report from any front end's results, as a page (with its tables beside it) or as a
terminal summary."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

THRESHOLD = 0.8
"""Pairs whose similarity (similarity.py: the lower of the two shares of code matched) reaches this are listed; in
tests/test_class_report.py's class the copies reach 1.0 and no honest pair passes 0.75."""


def add_command(commands: argparse._SubParsersAction) -> None:
    report = commands.add_parser(
        "report",
        help="a class report (scores, parts, shared mistakes, limits, who is missing, look-alike submissions) from "
        "results folders",
    )
    report.add_argument(
        "results",
        type=Path,
        nargs="+",
        help="folders holding <student>/<week>/results.json at any depth: dlgrade batch's --out (also what "
        "nbgrader courses get from `dlgrade batch submitted --gradebook ...`), the workflow's downloaded artifacts",
    )
    report.add_argument("--out", type=Path, default=Path("report.html"), help="the page (default: report.html)")
    report.add_argument(
        "--format",
        choices=["html", "table"],
        default="html",
        help="html: the page, with a CSV per table and a JSON of all of them beside it; table: the per-part "
        "summary on stdout (default: html)",
    )
    report.add_argument(
        "--submissions",
        type=Path,
        help="the notebooks that were graded (batch's SUBMISSIONS, the workflow's submissions artifact): their answer "
        "cells are compared for similarity (default: no similarity check)",
    )
    report.add_argument(
        "--threshold",
        type=float,
        default=THRESHOLD,
        help="list pairs where each has at least this share of its answer code in common with the other (default: "
        f"{THRESHOLD})",
    )
    report.add_argument("--roster", type=Path, help="a roster CSV (an id or student column): who should be there")
    report.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=sys.stderr.isatty(),
        help="progress bars on stderr while reading (default: when stderr is a terminal)",
    )
    report.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # here, not at the top: matplotlib, copydetect and Jinja would slow every other dlgrade command's start
    from autograder.frontends.class_report.collect import read_class  # noqa: PLC0415
    from autograder.frontends.class_report.exports import tables, to_terminal, write_exports  # noqa: PLC0415
    from autograder.frontends.class_report.page import render  # noqa: PLC0415
    from autograder.frontends.class_report.similarity import read_answers, similar_pairs  # noqa: PLC0415
    from autograder.frontends.class_report.summary import summarize  # noqa: PLC0415

    results = read_class(args.results, args.roster, progress=args.progress)
    if not results.graded:
        where = ", ".join(str(r) for r in args.results)
        raise ValueError(f"{where}: no results.json found (run dlgrade batch, or download the workflow's artifacts)")
    summary = summarize(results)
    pairs = None
    if args.submissions is not None:
        if not args.submissions.is_dir():
            raise ValueError(f"{args.submissions}: not a folder of submissions")
        pairs = []
        for week in results.weeks:
            answers = read_answers(args.submissions, week, results.problems, progress=args.progress)
            pairs += similar_pairs(answers, week, args.threshold)
    for problem in results.problems:
        print(f"dlgrade: warning: {problem}", file=sys.stderr)
    if args.format == "table":
        sys.stdout.write(to_terminal(summary, pairs, width=shutil.get_terminal_size().columns))
        return 0
    page = args.out
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(render(results, summary, pairs, page, [str(r) for r in args.results], args.threshold), "utf-8")
    written = write_exports(page, tables(results, summary, pairs))
    print(f"wrote {page} and {len(written)} tables beside it ({', '.join(p.name for p in written)})")
    return 0
