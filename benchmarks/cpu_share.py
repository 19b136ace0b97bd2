"""How much a notebook that keeps 32 processes busy slows what runs beside it: a correct submission's grading and a
plain loop elsewhere on the machine, each timed alone and then while the busy notebook is being graded.

The busy notebook is the week-1 stub with one cell that forks 32 processes spinning until they are killed. Where
the sandbox gets a cpu cgroup, the scheduler shares the machine between it and everything else as between two
programs, so the slowdown is bounded by the machine's share, not by how many processes the notebook runs. Prints;
asserts nothing. Run from the repository root:
    PATH=$PWD/.venv/bin:$PATH .venv/bin/python benchmarks/cpu_share.py [--week week4_cnn] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from grading_cost import correct_submission  # noqa: E402

from autograder.course.weeks import WEEKS  # noqa: E402

BIN = Path(sys.executable).parent
BUSY_CELL = """
import os, time
for _ in range(32):
    if os.fork() == 0:
        while True:
            pass
time.sleep(110)
"""
LOOP = "n = 0\nfor i in range(30_000_000):\n    n += i"


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, capture_output=True, check=True)
    return time.perf_counter() - started


def busy_notebook(scratch: Path) -> Path:
    notebook = nbformat.read(WEEKS["week1_tensors"].stub, as_version=4)
    notebook.cells.insert(1, nbformat.v4.new_code_cell(BUSY_CELL))
    path = scratch / "busy" / "week1_tensors.ipynb"
    path.parent.mkdir(parents=True)
    nbformat.write(notebook, path)
    return path


def measure(commands: dict[str, list[str]], runs: int, busy: Path | None) -> dict[str, float]:
    """Median seconds of each command; with ``busy``, each run has a fresh grading of it beside it, started 8 s
    before (its sandbox up and its 32 processes spinning) and stopped after: its cell spins for up to its
    cell_seconds (60 s), longer than any one run here."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, command in commands.items():
            beside = None
            if busy is not None:
                beside = subprocess.Popen([str(BIN / "dlgrade"), "grade", str(busy)], stdout=subprocess.DEVNULL)
                time.sleep(8)
            try:
                times[name].append(timed(command))
            finally:
                if beside is not None:
                    beside.terminate()
                    beside.wait()
    return {name: statistics.median(seconds) for name, seconds in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--week", default="week4_cnn", choices=sorted(WEEKS))
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder)
        correct = correct_submission(scratch, args.week)
        commands = {
            f"dlgrade grade ({args.week}, correct)": [str(BIN / "dlgrade"), "grade", str(correct), "--format", "json"],
            "a plain loop elsewhere": [sys.executable, "-c", LOOP],
        }
        alone = measure(commands, args.runs, None)
        beside = measure(commands, args.runs, busy_notebook(scratch))
    print(f"{'':40} {'alone':>8} {'beside':>8} {'factor':>7}")
    for name in commands:
        print(f"{name:40} {alone[name]:8.2f} {beside[name]:8.2f} {beside[name] / alone[name]:7.2f}")


if __name__ == "__main__":
    main()
