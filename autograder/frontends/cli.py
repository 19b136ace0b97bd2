"""``dlgrade``: grade notebooks from the command line.

Exit status: 0 whenever grading completed, whatever the score; 2 with a one-line reason when a notebook
could not be graded at all (missing file, not a notebook, unknown week); 3 if a grader itself is broken. ``batch``
grades every notebook whatever happens and exits 0 when all were graded, 1 when some could not be (each scored 0
with its reason), 3 when a grader failed on one.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

from autograder.course.data_locations import DATA_ENV
from autograder.course.weeks import SOLUTION_CELL_SECONDS, WEEKS, UnknownWeek, get_week
from autograder.frontends.class_report.command import add_command as add_report_command
from autograder.frontends.github.commands import add_commands, feedback_option
from autograder.frontends.github.student_repo import ExportError
from autograder.frontends.gradescope.run import REFERENCE_VISIBILITIES, VISIBILITIES
from autograder.grading import report as formats
from autograder.grading.grade import Unconfined, grade_notebook, resolve_device
from autograder.running.notebook import NotebookError
from autograder.sandbox.text import clean

_ONE_LINE_ERRORS = (
    NotebookError,
    UnknownWeek,
    Unconfined,
    ValueError,
    NotADirectoryError,
    FileNotFoundError,
    ExportError,
)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if getattr(args, "data_root", None) is not None:  # the student's process and the graders read it from there
        os.environ[DATA_ENV] = str(args.data_root.expanduser().resolve())
    try:
        if getattr(args, "device", None) == "cuda":
            resolve_device(args.device)  # no GPU here: refused in one line before anything runs
        return args.run(args)
    except _ONE_LINE_ERRORS as exc:
        print(f"dlgrade: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dlgrade: interrupted", file=sys.stderr)
        return 130


def _grade(args: argparse.Namespace) -> int:
    overrides = {
        "call_seconds": args.call_seconds,
        "total_seconds": args.total_seconds,
        "memory_mb": args.memory_mb,
        "disk_mb": args.disk_mb,
    }
    graded = grade_notebook(args.notebook, week=args.week, device=args.device, overrides=overrides)
    result = formats.with_feedback(graded, args.feedback)
    if args.format == "table":
        columns = shutil.get_terminal_size().columns  # $COLUMNS, else the terminal's, else 80
        sys.stdout.write(formats.to_table(result, colour=formats.use_colour(sys.stdout), width=columns))
    else:
        sys.stdout.write(formats.FORMATS[args.format](result))
    for option, render in (("json", formats.to_json), ("markdown", formats.to_markdown), ("junit", formats.to_junit)):
        target = getattr(args, f"{option}_file")
        if target is not None:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(render(result), encoding="utf-8")
    broken = [test.name for test in graded.tests if test.grader_error]
    if broken:
        print(f"dlgrade: warning: grader error in {', '.join(broken)}", file=sys.stderr)
        return 3
    return 0


def _demo(args: argparse.Namespace) -> int:
    """Grade every week's reference solution, its stub and the sample submissions, and print the scores.

    A week whose solution cannot make its files (week 4's training: no data, too slow for --training-timeout)
    says so in one line; its solution is graded without them, and every other week is graded as usual."""
    from nbclient.exceptions import CellExecutionError, CellTimeoutError  # noqa: PLC0415 - nbclient only here

    from autograder.authoring.handed_in import solution_with_files  # noqa: PLC0415
    from autograder.course.data import DataMissing  # noqa: PLC0415

    progress = sys.stderr if args.progress else None
    print(f"{'week':<20} {'submission':<34} {'score':>13} {'time':>7}")
    wrong, unmade = [], []
    for week in WEEKS.values():
        samples = sorted((week.solution.parents[2] / "samples" / week.name).glob("*.ipynb"))
        try:
            solution = solution_with_files(
                week, log=lambda line: print(line, flush=True), timeout=args.training_timeout, progress=progress
            )
        except (DataMissing, CellExecutionError, CellTimeoutError) as exc:
            first = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
            print(f"{week.name:<20} the solution could not make its files: {first[:200]}", flush=True)
            unmade.append(week.name)
            solution = week.solution
        for kind, path in [("solution", solution), ("stub", week.stub)] + [("sample", p) for p in samples]:
            result = grade_notebook(path, week=week.name, device=args.device)
            label = kind if kind != "sample" else f"sample {path.stem}"
            score = f"{result.score:g} / {result.max_score:g}"
            print(f"{week.name:<20} {label:<34} {score:>13} {result.seconds:6.1f}s", flush=True)
            if week.name in unmade:
                continue
            if kind == "solution" and result.score != result.max_score or kind == "stub" and result.score != 0:
                wrong.append(f"{week.name} {kind}")
    if unmade:
        print(
            f"dlgrade: error: {', '.join(unmade)}: the solution could not make its files (see above); on a slow "
            f"machine, give it longer: dlgrade demo --training-timeout {2 * args.training_timeout}",
            file=sys.stderr,
        )
    if wrong:
        print(
            f"dlgrade: error: {', '.join(wrong)} scored wrongly (solutions must get full marks, stubs 0)",
            file=sys.stderr,
        )
    if unmade or wrong:
        return 1
    print(f"\n{len(WEEKS)} week(s) graded (--device {args.device}): every solution has full marks and every stub 0.")
    print("Grade one notebook with: dlgrade grade NOTEBOOK [--format table|json|markdown|junit]")
    return 0


def _batch(args: argparse.Namespace) -> int:
    """Grade a folder of submissions; print one line per notebook of this shard (why it was graded now, if it was)
    and where the CSV went. SIGINT or SIGTERM stops it, keeping what finished: exit 130 or 143."""
    from autograder.frontends.batch.run import ResultsUnwritable, Stopped, parse_shard, result_file, run_batch  # noqa: PLC0415

    out = args.out or args.submissions.parent / "results"
    try:
        mine, graded = run_batch(
            args.submissions,
            out,
            jobs=args.jobs,
            shard=parse_shard(args.shard),
            device=args.device,
            week=args.week,
            gradebook=args.gradebook,
            allow_unconfined=args.allow_unconfined,
        )
    except ResultsUnwritable as exc:
        print(f"dlgrade: error: {exc}", file=sys.stderr)
        return 2
    except Stopped as stop:
        done = sum(result_file(out, s).is_file() for s in stop.submissions)
        print(
            f"dlgrade: stopped by {stop}: {done} of {len(stop.submissions)} notebooks have results, "
            f"{len(stop.submissions) - done} not; run the same command again to grade the rest",
            file=sys.stderr,
        )
        return 128 + stop.signum
    failed: dict[str, list[str]] = {"grader error": [], "not gradable": []}  # by results.json's status
    for submission in mine:
        results = json.loads(result_file(out, submission).read_text())
        student, label = (formats.shown(clean(name, 60)) for name in (submission.student, submission.label))
        why = f"  graded now: {graded[submission]}" if submission in graded else ""
        print(f"{student:<24} {label:<20} {results['score']:>6g} / {results['max_score']:<6g}{why}")
        failed.get(results["extra_data"].get("status", "graded"), []).append(student)
    print(f"graded {len(graded)}, {len(mine) - len(graded)} already up to date; scores in {out / 'grades.csv'}")
    for kind, students in failed.items():
        if students:
            names = ", ".join(students[:10])
            print(f"dlgrade: {len(students)} notebook(s) {kind}, scored 0 with the reason: {names}", file=sys.stderr)
    return 3 if failed["grader error"] else 1 if failed["not gradable"] else 0


def _gradescope(args: argparse.Namespace) -> int:
    """Build the week's Gradescope autograder zip."""
    from autograder.frontends.gradescope.bundle import build  # noqa: PLC0415

    week = get_week(args.week)
    target = build(
        week, args.out, allow_unconfined=args.allow_unconfined, visibility=args.visibility, references=args.references
    )
    print(f"{target} ({target.stat().st_size / 1e6:.1f} MB): upload it as the autograder of {week.name}")
    if args.allow_unconfined:
        print("built with --allow-unconfined: where Gradescope cannot confine student code, it runs unconfined")
    return 0


def _weeks(args: argparse.Namespace) -> int:
    """Each week with its points, part by part (what Gradescope's assignment and nbgrader's gradebook total)."""
    from autograder.grading.runner import grader_points  # noqa: PLC0415 - pytest only for this command

    for week in WEEKS.values():
        points = grader_points(week.grader_file)
        print(f"{week.name:<20} {sum(points.values()):>4g} points  {week.title}")
        print("    " + ", ".join(f"{part} {value:g}" for part, value in points.items()))
    return 0


def _check_week(args: argparse.Namespace) -> int:
    """Every check of each week named (``autograder.authoring.check_week``), a line per step; 1 if any failed."""
    from autograder.authoring.check_week import check_week  # noqa: PLC0415 - nbgrader, nbclient and tqdm only here

    names = list(WEEKS) if args.weeks == ["all"] else args.weeks
    for name in names:
        get_week(name)  # an unknown week is refused in one line before anything runs
    parts = set(args.parts.split(",")) if args.parts else None
    failed = []
    for name in names:
        for step in check_week(get_week(name), args.fast, args.mutants, parts, args.jobs, "cpu", args.progress):
            print(f"{name:<20} {'ok' if step.passed else 'FAIL':<5} {step.name}", flush=True)
            for line in step.details if args.verbose or step.details_always else []:
                print(f"{'':<26} {formats.shown(clean(line, 1000))}")
            for problem in step.problems:
                print(f"{'':<26} {formats.shown(clean(problem, 1000))}", flush=True)
            if not step.passed:
                failed.append(f"{name}: {step.name}")
    if failed:
        print(f"dlgrade: check-week: {len(failed)} check(s) failed: {'; '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dlgrade", description="Grade PyTorch notebooks with hidden graders.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)

    grade = commands.add_parser("grade", help="grade one notebook and print its report")
    grade.add_argument("notebook", type=Path, help="the submitted .ipynb file")
    grade.add_argument("--week", choices=list(WEEKS), help="the week to grade against (default: from the notebook)")
    grade.add_argument(
        "--format", choices=list(formats.FORMATS), default="table", help="what to print (default: table)"
    )
    grade.add_argument("--json-file", type=Path, help="also write Gradescope's results.json here")
    grade.add_argument("--markdown-file", type=Path, help="also write the Markdown summary here")
    grade.add_argument("--junit-file", type=Path, help="also write JUnit XML here")
    feedback_option(grade)
    _device_option(grade)
    grade.add_argument("--call-seconds", type=float, help="time limit per question (default: the week's)")
    grade.add_argument("--total-seconds", type=float, help="time limit per notebook (default: the week's)")
    grade.add_argument("--memory-mb", type=int, help="memory limit of the student's process (default: the week's)")
    grade.add_argument("--disk-mb", type=int, help="size of the student's scratch space (default: the week's)")
    _data_root_option(grade)
    grade.set_defaults(run=_grade)

    demo = commands.add_parser(
        "demo", help="grade every reference solution, stub and sample submission, print the scores"
    )
    _device_option(demo)
    demo.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=sys.stderr.isatty(),
        help="show week 4's training progress (epochs and batches) on stderr (default: when stderr is a terminal)",
    )
    demo.add_argument(
        "--training-timeout",
        type=int,
        default=SOLUTION_CELL_SECONDS,
        metavar="SECONDS",
        help=f"longest a cell of week 4's solution may train (default: {SOLUTION_CELL_SECONDS})",
    )
    _data_root_option(demo)
    demo.set_defaults(run=_demo)

    batch = commands.add_parser("batch", help="grade a folder of submissions (resumable, parallel, shardable)")
    batch.add_argument("submissions", type=Path, help="submitted/<student>/<week>/*.ipynb, or a flat folder")
    batch.add_argument("--out", type=Path, help="results folder (default: results/ beside SUBMISSIONS)")
    batch.add_argument("--jobs", type=int, default=1, help="notebooks graded at once (default: 1)")
    batch.add_argument("--shard", default="1/1", help="grade share i of n, by student (default: 1/1)")
    batch.add_argument(
        "--week",
        choices=list(WEEKS),
        help="only this week: its <student>/<week>/ folders, and any other notebook graded as this week (default: "
        "every week, each detected)",
    )
    batch.add_argument(
        "--gradebook",
        metavar="DB_URL",
        help="nbgrader's database (e.g. sqlite:///gradebook.db): fill names, e-mails and dates into the CSV",
    )
    batch.add_argument(
        "--allow-unconfined",
        action="store_true",
        help="grade even where student code cannot be confined (no bubblewrap); every report and the CSV say so",
    )
    _device_option(batch)
    _data_root_option(batch)
    batch.set_defaults(run=_batch)

    gradescope = commands.add_parser("gradescope", help="build a week's Gradescope autograder zip")
    gradescope.add_argument("week", choices=list(WEEKS), help="the week to build it for")
    gradescope.add_argument("--out", type=Path, required=True, help="the .zip to write, or a folder to write it in")
    gradescope.add_argument(
        "--visibility",
        choices=VISIBILITIES,
        default="visible",
        help="when students see each test's result (default: visible)",
    )
    gradescope.add_argument(
        "--references",
        choices=REFERENCE_VISIBILITIES,
        default="hidden",
        help="when students see a failed test's reference value: never (default), or after the due date or once "
        "grades are published (an extra 0-point entry per failed test, at that visibility)",
    )
    gradescope.add_argument(
        "--allow-unconfined",
        action="store_true",
        help="grade even where Gradescope's container cannot confine student code (default: refuse, and say why)",
    )
    _data_root_option(gradescope)
    gradescope.set_defaults(run=_gradescope)

    weeks = commands.add_parser("weeks", help="list the weeks this course grades, with their points per part")
    weeks.set_defaults(run=_weeks)

    check = commands.add_parser("check-week", help="check a week before releasing it: stub, points, scores, mistakes")
    check.add_argument("weeks", nargs="+", metavar="WEEK", help=f"the weeks to check, or all ({', '.join(WEEKS)})")
    check.add_argument(
        "--fast",
        action="store_true",
        help="only the stub, the points, the solution's run and the solution's and stub's scores (what CI runs)",
    )
    check.add_argument(
        "--mutants",
        action="store_true",
        help="also grade every mutant of each part's answer and require each part to kill 95%% of them (slow: "
        "minutes a part; needs cosmic-ray: pip install 'dlgrade[authoring]')",
    )
    check.add_argument("--parts", help="with --mutants: only these comma-separated parts (default: every part)")
    check.add_argument("--jobs", type=int, default=1, help="with --mutants: mutants graded at once (default: 1)")
    check.add_argument("--verbose", "-v", action="store_true", help="also print what each step measured")
    check.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=sys.stderr.isatty(),
        help="show a progress bar on stderr (default: when stderr is a terminal)",
    )
    _data_root_option(check)
    check.set_defaults(run=_check_week)
    add_commands(commands)
    add_report_command(commands)
    for action in commands._choices_actions:  # each command's --help opens with the line `dlgrade --help` lists
        command = commands.choices[action.dest]
        command.description = command.description or action.help[:1].upper() + action.help[1:] + "."
    return parser


def _data_root_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-root",
        type=Path,
        metavar="FOLDER",
        help=f"where the datasets are (default: ${DATA_ENV}, else ~/.cache/dlgrade; Debian's Fashion-MNIST is found "
        "by itself)",
    )


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

    try:
        return version("dlgrade")
    except PackageNotFoundError:
        return "(not installed: run from a checkout)"


def _device_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--device",
        choices=["auto", "cpu", "cuda"],
        default="auto",
        help="where student code runs (default: auto: a GPU, where there is one, for the weeks that train; the CPU "
        "for the others)",
    )


if __name__ == "__main__":
    sys.exit(main())
