"""Grading at scale, measured in one run on the same notebooks.

Per week (a correct submission: the released stub with the solution's answers; median of --runs, whole process,
wall clock):
  * dlgrade grade NOTEBOOK
  * jupyter nbconvert --to notebook --execute NOTEBOOK      (the cost of merely running it)
  * nbgrader autograde WEEK                                 (one submission in a fresh course directory)
Then batch throughput: `dlgrade batch` of --count submissions (correct answers, stubs and samples of every week,
in nbgrader's submitted/<student>/<week>/ layout) at --jobs 1 and --jobs 2, each into an empty results folder.
Prints a table; asserts nothing. Run from the repository root:
    PATH=$PWD/.venv/bin:$PATH .venv/bin/python benchmarks/grading_cost.py [--runs 3] [--count 50]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))  # answered_stub: the tests' correct submission

import nbformat  # noqa: E402
from helpers import answered_stub  # noqa: E402

from autograder.authoring.handed_in import solution_with_files  # noqa: E402
from autograder.course.weeks import WEEKS  # noqa: E402

BIN = Path(sys.executable).parent
ENV = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")


def timed(command: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    run = subprocess.run(command, cwd=cwd, env=ENV, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if run.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({run.returncode}):\n{run.stderr[-3000:]}")
    return elapsed


def correct_submission(scratch: Path, week: str) -> Path:
    """What a student who got everything right hands in: the released stub, every answer cell filled in, and the
    files the week hands in beside it (week 4's weights, trained once by running the solution)."""
    path = scratch / f"{week}-correct" / f"{week}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(answered_stub(week), path)
    trained = solution_with_files(WEEKS[week], log=print).parent
    for name in WEEKS[week].handed_in:
        shutil.copy(trained / name, path.parent / name)
    return path


def nbgrader_course(scratch: Path, week: str) -> Path:
    """A fresh nbgrader course with one student's submission of ``week`` (the reference solution)."""
    course = scratch / f"course-{week}"
    shutil.rmtree(course, ignore_errors=True)
    (course / "solutions").mkdir(parents=True)
    shutil.copy(REPO / "nbgrader_config.py", course)
    shutil.copytree(REPO / "solutions" / week, course / "solutions" / week)
    timed([str(BIN / "nbgrader"), "generate_assignment", week, "--force"], course)
    submitted = course / "submitted" / "ada" / week
    submitted.mkdir(parents=True)
    shutil.copytree(correct_submission(scratch, week).parent, submitted, dirs_exist_ok=True)
    return course


def per_week(runs: int, scratch: Path, weeks: list[str]) -> None:
    header = f"{'week':<16} {'dlgrade grade':>14} {'nbconvert --execute':>20} {'nbgrader autograde':>19}"
    print(f"{header}   (median of {runs}, s)")
    for name in weeks:
        grade, execute, autograde = [], [], []
        submission = correct_submission(scratch, name)
        for _ in range(runs):
            grade.append(timed([str(BIN / "dlgrade"), "grade", str(submission), "--format", "json"], scratch))
            if WEEKS[name].handed_in:  # running it means training it (minutes): not what grading costs
                execute.append(float("nan"))
            else:
                execute.append(
                    timed(
                        [
                            str(BIN / "jupyter"),
                            "nbconvert",
                            "--to",
                            "notebook",
                            "--execute",
                            str(submission),
                            "--output-dir",
                            str(scratch),
                            "--output",
                            f"{name}-executed",
                        ],
                        scratch,
                    )
                )
            course = nbgrader_course(scratch, name)
            autograde.append(timed([str(BIN / "nbgrader"), "autograde", name, "--force"], course))
        g, e, a = (statistics.median(values) for values in (grade, execute, autograde))
        print(f"{name:<16} {g:>14.2f} {e:>20.2f} {a:>19.2f}   grade/execute {g / e:.2f}, autograde/grade {a / g:.1f}x")


def class_folder(scratch: Path, count: int) -> Path:
    """``count`` submissions cycling through every week's correct answers, stub and samples."""
    sources = []
    for name, week in WEEKS.items():
        sources += [(name, correct_submission(scratch, name)), (name, week.stub)]
        sources += [(name, path) for path in sorted((REPO / "samples" / name).glob("*.ipynb"))]
    root = scratch / "submitted"
    shutil.rmtree(root, ignore_errors=True)
    for number in range(count):
        name, source = sources[number % len(sources)]
        target = root / f"student{number:03d}" / name
        target.mkdir(parents=True)
        shutil.copy(source, target / f"{name}.ipynb")
        for handed_in in WEEKS[name].handed_in:
            if (source.parent / handed_in).is_file():
                shutil.copy(source.parent / handed_in, target / handed_in)
    return root


def throughput(count: int, scratch: Path) -> None:
    root = class_folder(scratch, count)
    seconds = {}
    for jobs in (1, 2):
        out = scratch / f"results-{jobs}"
        shutil.rmtree(out, ignore_errors=True)
        seconds[jobs] = timed(
            [str(BIN / "dlgrade"), "batch", str(root), "--out", str(out), "--jobs", str(jobs)], scratch
        )
        print(f"batch of {count}, --jobs {jobs}: {seconds[jobs]:.1f} s, {count / seconds[jobs] * 60:.1f} notebooks/min")
    print(f"--jobs 2 throughput / --jobs 1 throughput: {seconds[1] / seconds[2]:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per per-week measurement (default: 3)")
    parser.add_argument("--count", type=int, default=50, help="submissions in the batch (default: 50)")
    parser.add_argument("--skip-per-week", action="store_true", help="measure batch throughput only")
    parser.add_argument("--skip-throughput", action="store_true", help="measure the per-week figures only")
    parser.add_argument("--weeks", default=",".join(WEEKS), help="comma-separated weeks (default: all)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        if not args.skip_per_week:
            per_week(args.runs, Path(scratch), args.weeks.split(","))
        if not args.skip_throughput:
            throughput(args.count, Path(scratch))


if __name__ == "__main__":
    main()
