"""``dlgrade`` commands for courses on GitHub: the student template, the roster, and feedback on commits.

The trusted grading workflow (``.github/workflows/grade-students.yml``) is made of these commands and
``dlgrade batch``; each is usable by hand as well.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from autograder.course.weeks import WEEKS
from autograder.frontends.batch.run import merge_results, parse_shard
from autograder.judging.disclosure import FEEDBACK_LEVELS


def add_commands(commands: argparse._SubParsersAction) -> None:
    export = commands.add_parser("export-student-repo", help="write the student template repository")
    export.add_argument("directory", type=Path, help="a new or empty folder")
    export.set_defaults(run=_export)

    shards = commands.add_parser("roster-shards", help="print the shard numbers for a job matrix, as JSON")
    shards.add_argument("roster", type=Path, help="CSV with columns student,repository")
    shards.add_argument("--per-shard", type=int, default=25, help="students per runner (default: 25)")
    shards.set_defaults(run=_shards)

    repos = commands.add_parser("roster-repos", help="print owner= and repositories= for a scoped App token")
    repos.add_argument("roster", type=Path, help="CSV with columns student,repository")
    repos.set_defaults(run=_repos)

    fetch = commands.add_parser("fetch", help="fetch the notebooks of the roster's repositories (read-only)")
    fetch.add_argument("roster", type=Path, help="CSV with columns student,repository")
    fetch.add_argument("--dest", type=Path, required=True, help="where submissions/<student>/<week>/ go")
    fetch.add_argument("--shard", default="1/1", help="fetch share i of n, by student (default: 1/1)")
    fetch.add_argument("--before", help="grade the last commit before this time (e.g. '2026-11-20 23:59 UTC')")
    fetch.add_argument(
        "--git-base",
        default=os.environ.get("DLGRADE_GIT_BASE", "https://github.com/"),
        help="where owner/name repositories live (default: $DLGRADE_GIT_BASE or https://github.com/)",
    )
    fetch.set_defaults(run=_fetch)

    merge = commands.add_parser("merge", help="write RESULTS/grades.csv from every results.json under RESULTS")
    merge.add_argument(
        "results", type=Path, help="a folder holding <student>/<week>/results.json (e.g. every shard's artifacts)"
    )
    merge.set_defaults(run=_merge)

    publish = commands.add_parser("publish", help="post scores and feedback to each graded commit (check runs)")
    publish.add_argument("results", type=Path, help="results of dlgrade batch, with the fetch records")
    publish.add_argument(
        "--dry-run", action="store_true", help="print what would be posted, with the text students would read"
    )
    publish.add_argument(
        "--week", action="append", choices=list(WEEKS), help="post only this week's results (repeat for several)"
    )
    feedback_option(publish)
    publish.set_defaults(run=_publish)


def feedback_option(parser: argparse.ArgumentParser) -> None:
    """``--feedback``: how much a student's feedback says (``autograder.judging.disclosure.FEEDBACK_LEVELS``)."""
    parser.add_argument(
        "--feedback",
        choices=FEEDBACK_LEVELS,
        default="hidden",
        help="hidden: feedback never shows a reference value (default; while students may resubmit); open: each "
        "failed test also says what the reference is (feedback released after the deadline)",
    )


def _export(args: argparse.Namespace) -> int:
    from autograder.frontends.github.student_repo import export_student_repo  # noqa: PLC0415

    written = export_student_repo(args.directory)
    print(f"wrote {len(written)} files to {args.directory}:")
    for path in written:
        print(f"  {path}")
    return 0


def _shards(args: argparse.Namespace) -> int:
    from autograder.frontends.github.roster import plan_shards, read_roster  # noqa: PLC0415

    print(json.dumps(plan_shards(len(read_roster(args.roster)), args.per_shard)))
    return 0


def _repos(args: argparse.Namespace) -> int:
    from autograder.frontends.github.roster import read_roster, token_scope  # noqa: PLC0415

    owner, names = token_scope(read_roster(args.roster))
    print(f"owner={owner}")
    print(f"repositories={','.join(names)}")
    return 0


def _fetch(args: argparse.Namespace) -> int:
    from autograder.frontends.github.roster import fetch, read_roster  # noqa: PLC0415

    token = os.environ.get("GH_TOKEN") or None
    record = fetch(read_roster(args.roster), args.dest, parse_shard(args.shard), args.git_base, token, args.before)
    for student, entry in sorted(record.items()):
        print(f"{student:<24} {entry.get('commit', '')[:12] or 'NOT FETCHED: ' + entry.get('error', '')}")
    print(f"fetched {sum('commit' in e for e in record.values())} of {len(record)} repositories of this shard")
    return 0


def _merge(args: argparse.Namespace) -> int:
    print(f"wrote {merge_results(args.results)}")
    return 0


def _publish(args: argparse.Namespace) -> int:
    from autograder.frontends.github.publish import publish, token_from_environment  # noqa: PLC0415

    token = "" if args.dry_run else token_from_environment()
    api_url = os.environ.get("GITHUB_API_URL", "https://api.github.com")
    weeks = set(args.week) if args.week else None
    lines = publish(args.results, token, api_url, dry_run=args.dry_run, feedback=args.feedback, weeks=weeks)
    print("\n".join(lines) or "nothing to publish")
    return 1 if any(line.startswith("FAILED") for line in lines) else 0
