"""Does a batch stop as its users expect, and leave nothing behind? Killed (SIGKILL) or told to stop (SIGTERM,
SIGINT) while a notebook's cell loops, at --jobs 1 and 2: no process of it alive seconds later, what finished
kept, one line saying what did not, and exit 130 or 143. A full results disk stops it at once, in one line.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from autograder.course.weeks import get_week

pytestmark = pytest.mark.slow

WEEK = "week1_tensors"


def class_with_a_looping_student(folder: Path, honest: int = 2) -> Path:
    """A flat submissions folder: ``honest`` copies of the solution (graded first), then a notebook whose last cell
    loops for ever."""
    submissions = folder / "submissions"
    submissions.mkdir()
    for number in range(honest):
        shutil.copy(get_week(WEEK).solution, submissions / f"a{number}.ipynb")
    notebook = nbformat.read(get_week(WEEK).stub, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell("while True:\n    pass\n"))
    nbformat.write(notebook, submissions / "zz-loops.ipynb")
    return submissions


def start_batch(submissions: Path, out: Path, jobs: str) -> subprocess.Popen:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    command = [sys.executable, "-m", "autograder", "batch", str(submissions), "--out", str(out), "--jobs", jobs]
    command += ["--week", WEEK, "--device", "cpu"]
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True
    )


def students_of(graders: set[int]) -> list[int]:
    """The student processes (worker and whatever it started) that any of ``graders`` started, alive now."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        owner = next((item[len(b"DLGRADE_WORKER=") :] for item in environ if item.startswith(b"DLGRADE_WORKER=")), None)
        if owner is not None and owner.isdigit() and int(owner) in graders:
            found.append(int(entry.name))
    return found


def batch_processes(batch: subprocess.Popen) -> set[int]:
    """The batch's own processes: its main process and the pool's, all in its process group."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getpgid(int(entry.name)) == batch.pid:
                    found.add(int(entry.name))
            except OSError:
                continue
    return found


def wait_for_the_loop(batch: subprocess.Popen, out: Path, finished: int, timeout: float = 240) -> set[int]:
    """Wait until ``finished`` results are written and the looping notebook's student process runs; the batch's
    processes then."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        graders = batch_processes(batch)
        done = len(list(out.glob("*/*/results.json")))
        if done >= finished and any(_loops(pid) for pid in students_of(graders)):
            return graders
        assert batch.poll() is None, batch.communicate()
        time.sleep(0.2)
    raise AssertionError("the looping notebook never started")


def _loops(pid: int) -> bool:
    try:
        return (
            float((Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[11]) > 400
        )  # 4 s of CPU: past the imports, in the loop
    except (OSError, IndexError, ValueError):
        return False


def gone_within(graders: set[int], seconds: float) -> list[int]:
    """Processes of the batch or its students still alive after ``seconds``."""
    deadline = time.monotonic() + seconds
    alive: list[int] = []
    while time.monotonic() < deadline:
        alive = students_of(graders) + [pid for pid in graders if Path(f"/proc/{pid}").exists() and not _zombie(pid)]
        if not alive:
            return []
        time.sleep(0.2)
    return alive


def _zombie(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


@pytest.mark.parametrize("jobs", ["1", "2"])
@pytest.mark.parametrize("how", ["SIGKILL of its process group", "SIGTERM of its main process"])
def test_nothing_outlives_a_stopped_batch(tmp_path: Path, jobs: str, how: str) -> None:
    """However the batch ends, is every process it started (pool processes, sandboxes, students) gone 5 s later?"""
    submissions = class_with_a_looping_student(tmp_path, honest=1)
    out = tmp_path / "results"
    batch = start_batch(submissions, out, jobs)
    try:
        graders = wait_for_the_loop(batch, out, finished=1 if jobs == "1" else 0)
        if how.startswith("SIGKILL"):
            os.killpg(batch.pid, signal.SIGKILL)
        else:
            batch.send_signal(signal.SIGTERM)
        batch.wait(timeout=30)
        assert gone_within(graders, 5) == []
        if how.startswith("SIGTERM"):
            assert batch.returncode == 143
    finally:
        if batch.poll() is None:
            os.killpg(batch.pid, signal.SIGKILL)


def test_interrupt_stops_within_seconds_and_keeps_what_finished(tmp_path: Path) -> None:
    """Does Ctrl-C (SIGINT to the whole process group) at --jobs 2 stop the batch within 10 s, keep the notebooks
    that finished, say in one line what did not and how to resume, exit 130, and print no traceback, even when
    pressed twice?"""
    submissions = class_with_a_looping_student(tmp_path, honest=2)
    out = tmp_path / "results"
    batch = start_batch(submissions, out, "2")
    try:
        graders = wait_for_the_loop(batch, out, finished=2)
        os.killpg(batch.pid, signal.SIGINT)
        time.sleep(0.3)
        os.killpg(batch.pid, signal.SIGINT)
        _, stderr = batch.communicate(timeout=30)
        assert batch.returncode == 130
        assert "Traceback" not in stderr
        assert "2 of 3 notebooks have results, 1 not; run the same command again" in stderr
        assert gone_within(graders, 5) == []
        assert sorted(path.parent.parent.name for path in out.glob("*/*/results.json")) == ["a0", "a1"]
    finally:
        if batch.poll() is None:
            os.killpg(batch.pid, signal.SIGKILL)


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tiny tmpfs for the results needs root (CI runs as root)")
def test_a_full_results_disk_stops_the_batch_at_once(tmp_path: Path) -> None:
    """When results cannot be written (a full disk), does the batch stop at once with one line naming the folder,
    grading nothing more, and leave no empty or partial files?"""
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    for number in range(4):
        shutil.copy(get_week(WEEK).stub, submissions / f"s{number}.ipynb")
    out = tmp_path / "results"
    out.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4k", "tmpfs", str(out)], check=True)
    try:
        env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
        command = [sys.executable, "-m", "autograder", "batch", str(submissions), "--out", str(out), "--week", WEEK]
        run = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
        assert run.returncode == 2, run.stderr
        assert "Traceback" not in run.stderr
        lines = [line[line.index("dlgrade:") :] for line in run.stderr.splitlines() if "dlgrade:" in line]
        assert lines == [
            f"dlgrade: error: {out}: cannot write results there (No space left on device); nothing more was graded"
        ]
        assert "0/4" in run.stderr and "1/4" not in run.stderr  # the progress bar: it stopped after the first
        leftovers = [path for path in out.rglob("*") if path.is_file()]
        assert all(path.stat().st_size > 0 and not path.name.endswith(".partial") for path in leftovers)
    finally:
        subprocess.run(["umount", str(out)], check=False)


def test_killed_batches_resume_to_the_baseline(tmp_path: Path) -> None:
    """After SIGKILLs at several moments, does resuming give every student the scores of an uninterrupted run,
    each results.json whole, grading only what had not finished, and nothing of the killed runs left alive?"""
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    week = get_week(WEEK)
    for number in range(5):
        shutil.copy(week.solution if number % 2 else week.stub, submissions / f"s{number}.ipynb")
    out = tmp_path / "results"
    for finished in (1, 3):  # kill once a result is written, then once three are, mid-grading each time
        batch = start_batch(submissions, out, "2")
        deadline = time.monotonic() + 300
        while len(list(out.glob("*/*/results.json"))) < finished and time.monotonic() < deadline:
            time.sleep(0.1)
        graders = batch_processes(batch)
        os.killpg(batch.pid, signal.SIGKILL)
        batch.wait()
        assert gone_within(graders, 5) == []
    before = {path: path.read_bytes() for path in out.glob("*/*/results.json")}
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    command = [sys.executable, "-m", "autograder", "batch", str(submissions), "--out", str(out), "--week", WEEK]
    resumed = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert f"graded {5 - len(before)}, {len(before)} already up to date" in resumed.stdout
    for path, content in before.items():
        assert path.read_bytes() == content
    scores = {p.parent.parent.name: json.loads(p.read_text())["score"] for p in out.glob("*/*/results.json")}
    assert scores == {f"s{n}": 25 if n % 2 else 0 for n in range(5)}
    assert not list(out.rglob("*.partial"))
