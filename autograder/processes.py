"""Every process the student's code starts: counted, capped and killed at the end.

A pids cgroup (v1 or v2, where this machine lets us create one) caps how many processes the student's process
may have, which stops fork bombs, and lists every one of them, however they detached (setsid, double fork),
so none outlives grading. Where no cgroup can be had, the process tree under the worker is killed instead.
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import tempfile
import time
from pathlib import Path

_V1_ROOT = Path("/sys/fs/cgroup/pids")
_V2_ROOT = Path("/sys/fs/cgroup")
_counter = itertools.count()


class PidsCgroup:
    """One cgroup for one student process."""

    def __init__(self, path: Path):
        self.path = path

    @classmethod
    def create(cls, max_pids: int) -> tuple[PidsCgroup | None, str | None]:
        """A new cgroup allowing ``max_pids`` processes, or None and the reason there is none."""
        name = f"dlgrade-{os.getpid()}-{next(_counter)}"
        reasons = []
        for root in _candidate_roots():
            path = root / name
            try:
                path.mkdir()
            except OSError as exc:
                reasons.append(f"{root}: {exc.strerror}")
                continue
            try:
                (path / "pids.max").write_text(str(max_pids))
                return cls(path), None
            except OSError as exc:
                reasons.append(f"{path}/pids.max: {exc.strerror}")
                path.rmdir()
        return None, "no process limit (no pids cgroup could be created: " + "; ".join(reasons or ["none"]) + ")"

    def add(self, pid: int) -> None:
        (self.path / "cgroup.procs").write_text(str(pid))

    def pids(self) -> list[int]:
        try:
            return [int(line) for line in (self.path / "cgroup.procs").read_text().split()]
        except OSError:
            return []

    def hit_limit(self) -> bool:
        """Whether a fork was refused because of the limit."""
        for name in ("pids.events",):
            try:
                text = (self.path / name).read_text()
            except OSError:
                continue
            return any(line.split()[-1] != "0" for line in text.splitlines() if line.startswith("max"))
        return False

    def kill_all(self) -> None:
        for _ in range(100):
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                _kill(pid)
            time.sleep(0.01)

    def remove(self) -> None:
        self.kill_all()
        for _ in range(50):
            try:
                self.path.rmdir()
                return
            except OSError:
                time.sleep(0.02)


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (Linux /proc), however deep, whatever its session."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat[stat.rindex(")") + 2 :].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found, queue = [], [pid]
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


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


def _candidate_roots() -> list[Path]:
    roots = []
    if (_V1_ROOT / "cgroup.procs").exists():
        roots.append(_V1_ROOT)
    controllers = _V2_ROOT / "cgroup.controllers"
    if controllers.exists() and "pids" in controllers.read_text().split():
        own = Path("/proc/self/cgroup").read_text().splitlines()
        v2 = [line.split("::", 1)[1] for line in own if line.startswith("0::")]
        if v2:
            roots.append(_V2_ROOT / v2[0].lstrip("/"))
    return roots


WORK_PREFIX = "dlgrade-work-"
"""Start of a student process's scratch folder's name, followed by the grading process's PID."""


def work_folder_prefix() -> str:
    return f"{WORK_PREFIX}{os.getpid()}-"


def sweep_leftovers() -> list[Path]:
    """Remove what gradings killed before they could clean up left behind: cgroups (their processes killed first)
    and scratch folders whose grading process is gone. Returns what was removed."""
    removed = []
    for root in _candidate_roots():
        for path in root.glob("dlgrade-*-*"):
            if path.is_dir() and _owner_gone(path.name.removeprefix("dlgrade-")):
                PidsCgroup(path).remove()
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
