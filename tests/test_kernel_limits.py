"""Do the sandbox's cgroups hold what rlimits cannot: all of its memory (shared mappings, memfds, SysV shared
memory, child processes) and one fair share of the CPU however many processes it runs? Where this machine lets
no cgroup be made, does the report say which limit held instead? And does nothing of the sandbox work between
its answers?
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from helpers import GRADING_DEVICE, grade, submission

from autograder.grading.grade import grade_notebook, student_view
from autograder.judging.student import Student
from autograder.running import cgroups
from autograder.running.limits import Limits
from autograder.running.notebook import Cell
from autograder.running.student_process import StudentProcess
from autograder.sandbox import confinement

WEEK, FULL, MIB = "week1_tensors", 25, 1 << 20
MEMORY_MB, DISK_MB = 1024, 256
MARGIN_MB = 1024
"""Beyond the sandbox's budget (memory_mb + disk_mb + 64 MiB of /dev/shm), what the machine may lose while the
notebook runs: the grader's own bookkeeping, the kernel's for a new process, and the noise of a machine-wide
MemAvailable (page cache, memory of the previous sandbox still being freed). Seen on the 2-core CI machine: up to
1367 MiB lost in most runs, 1611 and 2086 MiB in two of about ten. Without the cgroup, what these hoarders hold
is bounded by nothing but the machine (24 GiB here)."""

HOARDERS = {
    "shared mappings": """
        def storage_facts(t):
            import mmap
            hoard = []
            while True:
                block = mmap.mmap(-1, 64 << 20, flags=mmap.MAP_SHARED)
                block.write(b"x" * (64 << 20))
                hoard.append(block)
        """,
    "a memfd": """
        def storage_facts(t):
            import os
            fd = os.memfd_create("hoard")
            while True:
                os.write(fd, b"x" * (16 << 20))
        """,
    "SysV shared memory": """
        def storage_facts(t):
            import ctypes
            libc = ctypes.CDLL(None, use_errno=True)
            libc.shmat.restype = ctypes.c_void_p
            while True:
                segment = libc.shmget(0, 64 << 20, 0o1600)
                address = libc.shmat(segment, None, 0)
                ctypes.memset(address, 1, 64 << 20)
        """,
    "child processes": """
        def storage_facts(t):
            import os, time
            for _ in range(6):
                if os.fork() == 0:
                    hoard = []
                    try:  # each child as much as its own RLIMIT_DATA allows, written: pages in use
                        while True:
                            hoard.append(b"x" * (32 << 20))
                    except MemoryError:
                        time.sleep(60)
                    os._exit(0)
            time.sleep(60)
        """,
}


def memory_cgroup_or_skip() -> None:
    if confinement.unavailable() is not None:
        pytest.skip(f"these limits are the sandbox's: {confinement.unavailable()}")
    made, why = cgroups.SandboxCgroups.create(cgroups.Budget(0, 64 * MIB, 0))
    made.remove()
    if "memory" in why:
        pytest.skip(f"no memory cgroup can be made here ({why['memory']}); the note test covers this case")


class LowestAvailable(threading.Thread):
    """The machine's MemAvailable, sampled until stopped: how much the notebook took from everything else."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.before, self.lowest, self.running = _available(), _available(), True

    def run(self) -> None:
        while self.running:
            self.lowest = min(self.lowest, _available())
            time.sleep(0.005)

    def stop(self) -> int:
        self.running = False
        self.join()
        return self.before - self.lowest


def _available() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no MemAvailable in /proc/meminfo")


@pytest.mark.slow
@pytest.mark.parametrize("hoarder", list(HOARDERS))
def test_memory_beyond_the_limit_costs_only_that_part(tmp_path, hoarder):
    """A part that holds memory the process's rlimit does not count, until stopped: does it lose only its own 2
    points, while the machine loses no more than the sandbox's budget and a stated margin?"""
    memory_cgroup_or_skip()
    path = submission(tmp_path, WEEK, {"storage_facts": HOARDERS[hoarder]})
    watch = LowestAvailable()
    watch.start()
    try:
        # grade_notebook itself: helpers.grade's disclosure ledger keeps copies of values, which this measures
        limits = {"call_seconds": 30, "memory_mb": MEMORY_MB, "disk_mb": DISK_MB}
        report = grade_notebook(path, device=GRADING_DEVICE["device"], overrides=limits)
    finally:
        taken = watch.stop()
    assert report.score == FULL - 2, [t.output for t in report.tests if t.status == "failed"]
    assert {t.part for t in report.tests if t.status == "failed"} == {"storage_facts"}
    assert any(f"ran out of memory (limit memory_mb={MEMORY_MB}" in note for note in report.notes), report.notes
    budget = (MEMORY_MB + DISK_MB + confinement.SHM_BYTES // MIB + MARGIN_MB) * MIB
    assert taken <= budget, f"the machine lost {taken // MIB} MiB, more than {budget // MIB}"


def test_without_a_memory_cgroup_the_report_says_what_held(tmp_path, monkeypatch):
    """Where no cgroup can be made (an unprivileged grader without delegation), does the report say that memory_mb
    held for private data only, and that the notebook had no CPU share of its own?"""
    refused = (cgroups.SandboxCgroups({}), dict.fromkeys(("pids", "memory", "cpu"), "refused by this test"))
    monkeypatch.setattr(cgroups.SandboxCgroups, "create", classmethod(lambda cls, budget: refused))
    report = grade(submission(tmp_path, WEEK), call_seconds=20)
    assert report.score == FULL
    notes = "\n".join(report.notes)
    assert "memory_mb held for the notebook's private data only (RLIMIT_DATA)" in notes
    assert "refused by this test" in notes and "no CPU share of its own" in notes


BUSY = """
    def storage_facts(t):
        import os, time
        for _ in range(32):
            if os.fork() == 0:
                while True:
                    pass
        time.sleep(4)
        return (t.numel(), t.element_size() * 8, t.numel() * t.element_size())
    """


@pytest.mark.slow
def test_a_busy_notebook_runs_in_one_cpu_share(tmp_path):
    """While a part keeps 32 processes busy, are they all in the sandbox's one cpu cgroup, limited to its threads'
    worth of CPUs, so the scheduler shares the machine between it and everything else as between two programs?"""
    if confinement.unavailable() is not None:
        pytest.skip(f"the CPU share is the sandbox's: {confinement.unavailable()}")
    made, why = cgroups.SandboxCgroups.create(cgroups.Budget(0, 0, 1))
    made.remove()
    if "cpu" in why:
        pytest.skip(f"no cpu cgroup can be made here ({why['cpu']}); the note test covers this case")
    seen: list[tuple[int, int, str]] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            for folder in cgroups.leftover_folders():
                quota = next((folder / n for n in ("cpu.max", "cpu.cfs_quota_us") if (folder / n).exists()), None)
                if quota is not None:
                    pids = (folder / "cgroup.procs").read_text().split()
                    seen.append((len(pids), len(set(pids)), quota.read_text().strip()))
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        report = grade(submission(tmp_path, WEEK, {"storage_facts": BUSY}), call_seconds=20, threads=1)
    finally:
        done.set()
        watcher.join()
    busiest = max(seen, default=(0, 0, ""))
    assert busiest[0] >= 32, seen[-5:]
    assert busiest[2].split()[0] == str(cgroups.PERIOD_US)  # threads=1: one CPU's worth per period
    assert report.score == FULL  # the busy processes were ended once it answered, and it answered right


SPINNER = """
import threading
COUNT = [0]


def spin():
    while True:
        COUNT[0] += 1


threading.Thread(target=spin, daemon=True).start()
"""


def _students_python() -> int:
    """The confined student's Python this test started: PID 2 of its sandbox, with this test's marker."""
    marker = f"DLGRADE_WORKER={os.getpid()}\0".encode()
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker in (entry / "environ").read_bytes():
                nspid = [line for line in (entry / "status").read_text().splitlines() if line.startswith("NSpid")]
                if len(nspid) == 1 and len(nspid[0].split()) > 2 and nspid[0].split()[-1] == "2":
                    return int(entry.name)
        except OSError:
            continue
    raise AssertionError("no confined student process found")


def _state_and_cpu(pid: int) -> tuple[str, int]:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return fields[0], int(fields[11]) + int(fields[12])  # state, utime + stime in clock ticks


def test_no_thread_works_between_answers(tmp_path):
    """A cell leaves a thread spinning: once the cell's answer is in, does the student's Python stand still (stopped
    from outside, using no CPU) until the next question, and does that question still get its answer?"""
    if confinement.unavailable() is not None:
        pytest.skip(f"stopping between answers is the sandbox's: {confinement.unavailable()}")
    view, _ = student_view(tmp_path, "cpu", required=True)
    with StudentProcess([Cell(1, SPINNER)], Limits(call_seconds=20), view=view) as process:
        process.start()
        assert process.outcomes[0].error is None and process.outcomes[0].fatal is None
        worker = _students_python()
        state, before = _state_and_cpu(worker)
        time.sleep(0.5)
        after = _state_and_cpu(worker)[1]
        assert state == "T" and after == before
        counted = Student(process).value("COUNT")
        assert counted[0] > 0
