"""Every process the student's code starts: found from outside, killed when its answer is sent and at the end.

The sandbox's cgroups (``autograder.running.cgroups``) list every process, however it detached; where none could
be made, the process tree under bwrap is walked instead. Either way the grader does it, not code the notebook
could replace.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from autograder.running.cgroups import SandboxCgroups, leftover_folders


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (Linux /proc), however deep, whatever its session. Read with plain os calls: it
    runs after every answer of a sandbox that has no cgroup."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            fd = os.open(f"/proc/{name}/stat", os.O_RDONLY)
            try:
                stat = os.read(fd, 1024)
            finally:
                os.close(fd)
            parent = int(stat[stat.rindex(b")") + 2 :].split(None, 2)[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(parent, []).append(int(name))
    found, queue = [], [pid]
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


def sandbox_members(pids: list[int], bwrap_pid: int) -> tuple[int | None, list[int]]:
    """Of ``pids`` (a sandbox's, from its cgroup or bwrap's tree): the student's Python (PID 2 of the sandbox; bwrap's
    init is PID 1), and the strays, every other living process but bwrap itself (zombies only wait to be reaped)."""
    worker, strays = None, []
    for pid in pids:
        if pid == bwrap_pid:
            continue
        try:
            status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
        except (OSError, ValueError):
            continue
        inner = status.get("NSpid", "").split()
        if len(inner) < 2 or inner[-1] == "1":
            continue
        if inner[-1] == "2":
            worker = pid
        elif status.get("State", "").split()[:1] not in (["Z"], ["X"]):
            strays.append(pid)
    return worker, strays


def stop(pid: int, seconds: float = 0.2) -> None:
    """SIGSTOP ``pid`` (which no code can catch, block or ignore) and wait, a little, until all its threads stand."""
    try:
        os.kill(pid, signal.SIGSTOP)
    except (ProcessLookupError, PermissionError):
        return
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return
        if stat[stat.rindex(")") + 2 :].split()[0] in ("T", "t", "Z", "X"):
            return
        time.sleep(0.0005)


def resume(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGCONT)
    except (ProcessLookupError, PermissionError):
        pass


def end_strays(find: Callable[[], list[int]], bwrap_pid: int, seconds: float = 2.0) -> bool:
    """Kill the strays (``sandbox_members``) among what ``find`` lists until none is left (a killed process takes a
    moment to die); False if some still were after ``seconds`` (a fork bomb outrunning the kills)."""
    deadline = time.monotonic() + seconds
    while strays := sandbox_members(find(), bwrap_pid)[1]:
        if time.monotonic() > deadline:
            return False
        for pid in strays:
            _kill(pid)
        time.sleep(0.002)
    return True


def kill_tree(pid: int) -> None:
    """Kill ``pid``'s process group, every descendant, then ``pid`` itself."""
    below = descendants(pid) if Path("/proc").is_dir() else []
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    for child in below:
        _kill(child)
    _kill(pid)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


WORK_PREFIX = "dlgrade-work-"
"""Start of a student process's scratch folder's name, followed by the grading process's PID."""


def work_folder_prefix() -> str:
    return f"{WORK_PREFIX}{os.getpid()}-"


def sweep_leftovers() -> list[Path]:
    """Remove what gradings killed before they could clean up left behind: cgroups (their processes killed first)
    and scratch folders whose grading process is gone. Returns what was removed."""
    removed = []
    for path in leftover_folders():
        if _owner_gone(path.name.removeprefix("dlgrade-")):
            SandboxCgroups({"found": path}).remove()
            if not path.exists():
                removed.append(path)
    for path in Path(tempfile.gettempdir()).glob(f"{WORK_PREFIX}*"):
        if path.is_dir() and not path.is_symlink() and _owner_gone(path.name.removeprefix(WORK_PREFIX)):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _owner_gone(rest: str) -> bool:
    """Whether the process whose PID starts ``rest`` ("1234-...") has ended."""
    pid = rest.split("-", 1)[0]
    if not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
