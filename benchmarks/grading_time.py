"""`dlgrade grade` per week, whole process, wall clock: the figure a sandbox or grader change must not worsen.

For each week, a correct submission (the released stub with the solution's answers, and week 4's trained weights
beside it) is graded --runs times as a student's notebook is graded; the table gives the median, the fastest and
the slowest run, and the score (which must be full every time). With --devices cpu,cuda (or auto, a GPU runner's
default) the columns come from one run on one machine, and --training adds the time week 4's solution notebook
takes to train its two networks with the GPU in sight and with it hidden (CUDA_VISIBLE_DEVICES=""). With
--before REV, that commit is checked out beside this one and each grading runs on both, in turn (before, after,
before, ...), so that a busy machine slows both alike; the columns are then per commit, on the CPU. Prints;
asserts nothing. Run from the repository root:
    PATH=$PWD/.venv/bin:$PATH .venv/bin/python benchmarks/grading_time.py [--runs 5] [--devices cpu,cuda] [--training]
    PATH=$PWD/.venv/bin:$PATH .venv/bin/python benchmarks/grading_time.py --runs 5 --before REV
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from batch_profile import checkout, environment  # noqa: E402
from grading_cost import correct_submission  # noqa: E402

from autograder.course.weeks import WEEKS  # noqa: E402

BIN = Path(sys.executable).parent


def grade_once(notebook: Path, device: str, repo: Path | None = None) -> tuple[float, float, float]:
    """Seconds, score and maximum of one `dlgrade grade`, as a new process (of ``repo``'s code, if given)."""
    started = time.perf_counter()
    command = [str(BIN / "dlgrade"), "grade", str(notebook), "--format", "json", "--device", device]
    if repo is not None:  # the entry point of the commit checked out there, whatever its module layout
        command = [sys.executable, "-m", "autograder", *command[1:]]
    run = subprocess.run(command, capture_output=True, text=True, **({"env": environment(repo)} if repo else {}))
    seconds = time.perf_counter() - started
    if run.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({run.returncode}):\n{run.stderr[-3000:]}")
    report = json.loads(run.stdout)
    return seconds, report["score"], report["max_score"]


TRAIN = """
import sys, time
from pathlib import Path
from autograder.authoring.handed_in import make_handed_in
from autograder.course.weeks import get_week
started = time.perf_counter()
make_handed_in(get_week("week4_cnn"), Path(sys.argv[1]))
print(time.perf_counter() - started)
"""


def training_seconds(device: str) -> float:
    """Seconds week 4's solution notebook takes to run (both networks trained), as a student's kernel runs it."""
    env = dict(os.environ)
    if device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
    with tempfile.TemporaryDirectory(prefix="dlgrade-train-") as folder:
        run = subprocess.run([sys.executable, "-c", TRAIN, folder], capture_output=True, text=True, env=env, cwd=REPO)
    if run.returncode != 0:
        raise SystemExit(f"week 4's notebook failed on {device}:\n{run.stderr[-3000:]}")
    return float(run.stdout.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="gradings per week and device (default: 5)")
    parser.add_argument("--devices", default="cpu", help="comma-separated: cpu, cuda (default: cpu)")
    parser.add_argument("--weeks", default=",".join(WEEKS), help="comma-separated weeks (default: all)")
    parser.add_argument("--training", action="store_true", help="also time week 4's notebook training per device")
    parser.add_argument("--before", metavar="REV", help="also grade with this commit, in turn with this checkout")
    args = parser.parse_args()
    if args.before:
        compare(args.before, args.runs, args.weeks.split(","))
        return
    devices = args.devices.split(",")
    with tempfile.TemporaryDirectory(prefix="dlgrade-bench-") as scratch:
        print(f"{'week':<20}" + "".join(f"{device + ' median':>14}{'min-max':>14}{'score':>10}" for device in devices))
        for week in args.weeks.split(","):
            notebook = correct_submission(Path(scratch), week)
            row = f"{week:<20}"
            for device in devices:
                runs = [grade_once(notebook, device) for _ in range(args.runs)]
                seconds = [run[0] for run in runs]
                scores = {f"{run[1]:g}/{run[2]:g}" for run in runs}
                spread = f"{min(seconds):.2f}-{max(seconds):.2f}"
                row += f"{statistics.median(seconds):>13.2f}s{spread:>14}{' '.join(sorted(scores)):>10}"
            print(row, flush=True)
    print(f"(median of {args.runs} whole-process runs each)")
    if args.training:
        for device in devices:
            if device != "auto":
                print(f"week 4 notebook, trained on {device}: {training_seconds(device):.1f}s", flush=True)


def compare(before: str, runs: int, weeks: list[str]) -> None:
    """Each week's correct submission graded ``runs`` times by ``before`` and by this checkout, alternately."""
    with tempfile.TemporaryDirectory(prefix="dlgrade-bench-") as scratch:
        repos = {f"before ({before})": checkout(before, Path(scratch) / "before"), "after": REPO}
        try:
            print(f"{'week':<20}" + "".join(f"{name + ' median':>24}{'min-max':>14}" for name in repos))
            for week in weeks:
                notebook = correct_submission(Path(scratch), week)
                seconds: dict[str, list[float]] = {name: [] for name in repos}
                for _ in range(runs):
                    for name, repo in repos.items():
                        took, score, most = grade_once(notebook, "cpu", repo)
                        if score != most:
                            raise SystemExit(f"{name}: {week} scored {score:g}/{most:g}, expected full marks")
                        seconds[name].append(took)
                row = f"{week:<20}"
                for values in seconds.values():
                    row += f"{statistics.median(values):>23.2f}s{f'{min(values):.2f}-{max(values):.2f}':>14}"
                print(row, flush=True)
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(Path(scratch) / "before")])
    print(f"(median of {runs} whole-process runs each, the two commits in turn, on the CPU)")


if __name__ == "__main__":
    main()
