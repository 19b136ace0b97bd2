"""Where a batch notebook's time goes, and how many notebooks a minute `dlgrade batch` grades.

In one run, for this checkout and (with --before REV) for an earlier commit checked out beside it:
  * `dlgrade batch` of --count week-1 notebooks (the released stub with the solution's answers, one per student,
    in nbgrader's submitted/<student>/<week>/ layout) at --jobs 1 and --jobs 2, each into an empty results folder:
    wall time and notebooks per minute;
  * the split of one grading (median of --runs) into its stages, wall and CPU time each:
      - sandbox start: bwrap with the interpreter doing nothing, then the worker importing torch (both measured
        apart, in the same Sandbox the grader builds);
      - cells: the notebook's cells, run top to bottom (the first question's reply, less the start);
      - questions: every question the graders ask and its answer (the parent's CPU and the student's);
      - parent: what the grading process does itself beyond that (reading, pytest, judging, the report);
    for week 1 and week 4;
  * what forking students from one process that has already imported torch would cost instead of importing it
    again (--fork): the figure behind a pre-imported design, which this project does not use (see below).
Prints tables; asserts nothing. Run from the repository root:
    PATH=$PWD/.venv/bin:$PATH .venv/bin/python benchmarks/batch_profile.py [--count 50] [--runs 3] [--before REV]

The CPU of the student's side is read from /proc (its processes' utime and stime, taken just before they are
killed), so it is exact for the sandbox's processes whatever else the machine runs; wall times are not.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
TICK = os.sysconf("SC_CLK_TCK")
WEEKS_SPLIT = ("week1_tensors", "week4_cnn")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50, help="week-1 notebooks in the batch (default 50)")
    parser.add_argument("--runs", type=int, default=3, help="gradings per week for the split (default 3)")
    parser.add_argument("--before", metavar="REV", help="also measure this commit, checked out in a scratch folder")
    parser.add_argument("--fork", action="store_true", help="also time fork() of a torch-loaded process")
    parser.add_argument("--split-only", metavar="WEEK", help=argparse.SUPPRESS)  # one checkout's split, as JSON
    args = parser.parse_args()
    if args.split_only:
        print(json.dumps(split(args.split_only, args.runs)))
        return
    with tempfile.TemporaryDirectory(prefix="batch-profile-") as scratch_name:
        scratch = Path(scratch_name)
        checkouts = {"now": HERE}
        if args.before:
            checkouts = {f"before ({args.before})": checkout(args.before, scratch / "before"), **checkouts}
        root = week1_class(scratch, args.count)
        for label, repo in checkouts.items():
            print(f"== {label}: {repo}")
            for jobs in (1, 2):
                seconds = batch_seconds(repo, root, scratch / f"results-{jobs}", jobs)
                per_minute = args.count / seconds * 60
                print(f"batch of {args.count} week-1 notebooks, --jobs {jobs}: {seconds:.1f} s, {per_minute:.1f}/min")
            for week in WEEKS_SPLIT:
                print_split(week, split_in(repo, week, args.runs))
        if args.fork:
            fork_cost(args.runs)


def checkout(rev: str, folder: Path) -> Path:
    """``rev`` of this repository, checked out (without history) in ``folder``; its code runs with this venv."""
    subprocess.run(
        ["git", "-C", str(HERE), "worktree", "add", "--detach", str(folder), rev], check=True, capture_output=True
    )
    return folder


def week1_class(scratch: Path, count: int) -> Path:
    """``count`` students who each hand in a correct week 1 (identical but for a comment naming them)."""
    sys.path[:0] = [str(HERE), str(HERE / "tests")]
    import nbformat  # noqa: PLC0415
    from helpers import answered_stub  # noqa: PLC0415

    root = scratch / "submitted"
    for number in range(count):
        notebook = answered_stub("week1_tensors")
        notebook.cells[0].source += f"\n<!-- student{number:03d} -->"
        target = root / f"student{number:03d}" / "week1_tensors"
        target.mkdir(parents=True)
        nbformat.write(notebook, target / "week1_tensors.ipynb")
    return root


def environment(repo: Path) -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(repo), PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")


def batch_seconds(repo: Path, root: Path, out: Path, jobs: int) -> float:
    shutil.rmtree(out, ignore_errors=True)
    command = [sys.executable, "-m", "autograder", "batch", str(root), "--out", str(out), "--jobs", str(jobs)]
    started = time.perf_counter()
    run = subprocess.run(command, cwd=repo, env=environment(repo), capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if run.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({run.returncode}):\n{run.stderr[-3000:]}")
    scores = [json.loads(p.read_text())["score"] for p in out.glob("*/*/results.json")]
    if len(scores) != len(list(root.glob("*/*/*.ipynb"))) or len(set(scores)) != 1:
        raise SystemExit(f"the batch graded {len(scores)} notebooks with scores {sorted(set(scores))}")
    return seconds


def split_in(repo: Path, week: str, runs: int) -> dict:
    """``split`` run by ``repo``'s own code, in a process of its own."""
    command = [sys.executable, str(Path(__file__).resolve()), "--split-only", week, "--runs", str(runs)]
    env = dict(environment(repo), DLGRADE_PROFILE_REPO=str(repo))
    run = subprocess.run(command, cwd=repo, env=env, capture_output=True, text=True)
    if run.returncode != 0:
        raise SystemExit(f"the split of {week} failed in {repo}:\n{run.stderr[-3000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def print_split(week: str, stages: dict) -> None:
    print(f"  {week}: one grading, median of runs (s)       wall   parent CPU   student CPU")
    for name, (wall, parent, child) in stages.items():
        print(f"    {name:<40} {wall:6.2f} {parent:12.2f} {child:13.2f}")


# -- one grading, split (runs inside the checkout being measured) ----------------------------------------------
def split(week: str, runs: int) -> dict[str, tuple[float, float, float]]:
    repo = Path(os.environ.get("DLGRADE_PROFILE_REPO", HERE))
    sys.path[:0] = [str(repo), str(repo / "tests"), str(repo / "benchmarks")]
    from grading_cost import correct_submission  # noqa: PLC0415

    scratch = Path(tempfile.mkdtemp(prefix="split-"))
    notebook = correct_submission(scratch, week)
    probe = Probe()
    rows = [probe.grade(notebook, week) for _ in range(runs + 1)][1:]  # the first warms the caches
    start = [sandbox_start() for _ in range(runs)]
    shutil.rmtree(scratch, ignore_errors=True)
    median = {key: tuple(statistics.median(row[key][i] for row in rows) for i in range(3)) for key in rows[0]}
    bare = tuple(statistics.median(s[0][i] for s in start) for i in range(3))
    torch_start = tuple(statistics.median(s[1][i] for s in start) for i in range(3))
    return {
        "sandbox start: bwrap and the interpreter": bare,
        "sandbox start: the worker's imports (torch)": minus(torch_start, bare),
        "cells (first reply less the start)": minus(median["cells"], torch_start),
        "questions and answers": median["questions"],
        "parent's own work": median["parent"],
        "whole grading": median["total"],
    }


def minus(a: tuple[float, ...], b: tuple[float, ...]) -> tuple[float, ...]:
    return tuple(max(0.0, x - y) for x, y in zip(a, b, strict=True))


class Probe:
    """Times one grading's exchanges from the grader's side, and the sandbox's CPU from /proc before each kill."""

    def grade(self, notebook: Path, week: str) -> dict[str, tuple[float, float, float]]:
        from autograder.grading.grade import grade_notebook  # noqa: PLC0415
        from autograder.running import student_process  # noqa: PLC0415

        self.stages = {"cells": [0.0, 0.0, 0.0], "questions": [0.0, 0.0, 0.0]}
        self.child_cpu = 0.0
        cls = student_process.StudentProcess
        exchange, kill = cls._exchange, cls._kill
        probe = self

        def timed_exchange(process, request, seconds):
            stage = "cells" if request.get("op") == "run_cell" else "questions"
            wall, cpu, child = time.perf_counter(), time.process_time(), sandbox_cpu(process)
            try:
                return exchange(process, request, seconds)
            finally:
                totals = probe.stages[stage]
                totals[0] += time.perf_counter() - wall
                totals[1] += time.process_time() - cpu
                totals[2] += max(0.0, sandbox_cpu(process) - child) if process._worker else 0.0

        def counted_kill(process, grace=0.0):
            probe.child_cpu += sandbox_cpu(process)
            return kill(process, grace)

        cls._exchange, cls._kill = timed_exchange, counted_kill
        try:
            wall, cpu = time.perf_counter(), time.process_time()
            report = grade_notebook(notebook, week=week, device="cpu")
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        finally:
            cls._exchange, cls._kill = exchange, kill
        if report.score != report.max_score:
            raise SystemExit(f"{notebook}: {report.score} / {report.max_score}, expected full marks")
        cells, questions = self.stages["cells"], self.stages["questions"]
        questions[2] = max(0.0, self.child_cpu - cells[2]) if cells[2] else questions[2]
        parent = (wall - cells[0] - questions[0], cpu - cells[1] - questions[1], 0.0)
        return {
            "cells": tuple(cells),
            "questions": tuple(questions),
            "parent": parent,
            "total": (wall, cpu, self.child_cpu),
        }


def sandbox_cpu(process) -> float:
    """CPU seconds used so far by every process in ``process``'s sandbox (bwrap and all below it)."""
    from autograder.running.processes import descendants  # noqa: PLC0415

    worker = getattr(process, "_worker", None)
    if worker is None:
        return 0.0
    proc = worker.proc
    return sum(cpu_of(pid) for pid in [proc.pid, *descendants(proc.pid)])


def cpu_of(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def sandbox_start() -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """(bwrap running an interpreter that does nothing, bwrap running the worker's imports), each (wall, parent CPU,
    student CPU), in the Sandbox the grader builds (or unconfined where bubblewrap is missing). The interpreter
    reports its own CPU and ends with os._exit, as a killed worker does: torch's teardown is not counted."""
    from autograder.grading.grade import student_view  # noqa: PLC0415
    from autograder.sandbox import confinement  # noqa: PLC0415

    results = []
    for imports in ("", "import autograder.sandbox.answering; "):
        code = f"{imports}import os; t = os.times(); print(t.user + t.system, flush=True); os._exit(0)"
        command = [sys.executable, "-s", "-c", code]
        env = {"PYTHONPATH": os.environ.get("DLGRADE_PROFILE_REPO", str(HERE)), "PYTHONDONTWRITEBYTECODE": "1"}
        with tempfile.TemporaryDirectory(prefix="dlgrade-work-") as private:
            view, _ = student_view(Path(private), "cpu", required=False)
            wall, cpu = time.perf_counter(), time.process_time()
            if view is None:
                run = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
            else:
                with confinement.Sandbox(command, view, 64 << 20, private=Path(private)) as sandbox:
                    argv, fds = sandbox.argv, sandbox.fds
                    run = subprocess.run(argv, pass_fds=fds, env=env, capture_output=True, text=True, check=True)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        results.append((wall, cpu, float(run.stdout.split()[-1])))
    return results[0], results[1]


def fork_cost(runs: int) -> None:
    """fork() of a process that has imported torch, against importing it afresh: what a pre-imported design saves."""
    code = (
        "import os, time\n"
        "t = time.perf_counter(); import torch; imported = time.perf_counter() - t\n"
        f"walls = []\n"
        f"for _ in range({max(runs, 5)}):\n"
        "    t = time.perf_counter(); pid = os.fork()\n"
        "    if pid == 0:\n"
        "        torch.ones(3).sum(); os._exit(0)\n"
        "    os.waitpid(pid, 0); walls.append(time.perf_counter() - t)\n"
        "print(f'{imported:.3f} {sorted(walls)[len(walls) // 2]:.4f}')\n"
    )
    run = subprocess.run([sys.executable, "-s", "-c", code], capture_output=True, text=True, check=True)
    imported, forked = map(float, run.stdout.split())
    print(f"torch imported afresh: {imported:.2f} s; a child forked from a process holding it: {forked * 1000:.1f} ms")


if __name__ == "__main__":
    main()
