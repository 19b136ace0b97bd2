"""Grading cost per week, beside the cost of merely executing the same notebook.

For each week's reference solution, times (whole process, wall clock, median of --runs):
  * `dlgrade grade NOTEBOOK --format json`
  * `jupyter nbconvert --to notebook --execute NOTEBOOK` (what running it in Jupyter costs)
Prints a table; asserts nothing. Run: .venv/bin/python benchmarks/grading_cost.py [--runs 5] [--weeks ...]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from autograder.weeks import WEEKS  # noqa: E402

BIN = Path(sys.executable).parent


def timed(command: list[str], cwd: Path) -> float:
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    started = time.perf_counter()
    run = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if run.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{run.stderr[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per measurement (default: 5)")
    parser.add_argument("--weeks", nargs="*", default=list(WEEKS), help="weeks to measure (default: all)")
    args = parser.parse_args()
    print(f"{'week':<20} {'dlgrade grade':>15} {'nbconvert --execute':>21} {'ratio':>7}   (median of {args.runs}, s)")
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.weeks:
            notebook = WEEKS[name].solution
            grade_times, execute_times = [], []
            for _ in range(args.runs):  # interleaved, so drift in machine load hits both alike
                grade_times.append(
                    timed([str(BIN / "dlgrade"), "grade", str(notebook), "--format", "json"], Path(scratch))
                )
                execute_times.append(
                    timed(
                        [
                            str(BIN / "jupyter"),
                            "nbconvert",
                            "--to",
                            "notebook",
                            "--execute",
                            str(notebook),
                            "--output-dir",
                            scratch,
                            "--output",
                            f"{name}-executed",
                        ],
                        Path(scratch),
                    )
                )
            grading, executing = statistics.median(grade_times), statistics.median(execute_times)
            print(f"{name:<20} {grading:>15.2f} {executing:>21.2f} {grading / executing:>7.2f}")
            runs = f"grade {[round(t, 2) for t in grade_times]}, execute {[round(t, 2) for t in execute_times]}"
            print(f"{'':<20} runs: {runs}")


if __name__ == "__main__":
    main()
