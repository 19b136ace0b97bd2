"""Each student process's own cgroups: how many processes, how much memory and how much CPU its whole sandbox may
use, counted by the kernel, where this machine lets the grader make them.

A cgroup counts what rlimits cannot: every process the notebook forks, however it detached (setsid, a double
fork); shared memory, memfds and tmpfs pages as well as private data; the CPU time of all its processes together,
which the scheduler shares fairly with gradings beside it however many processes each runs. The folders sit below
the grader's own cgroup (v2: one folder with every controller its parent delegates; v1: one folder in each
controller's hierarchy), so the limits the machine sets on the grader still hold. ``DLGRADE_CGROUP`` names a v2
folder delegated to the grader instead (``systemd-run --user --scope -p Delegate=yes``, or made by an admin).
Whatever cannot be had is said, controller by controller, so that the report can say which limit held.
"""

from __future__ import annotations

import itertools
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

CGROUP_ENV = "DLGRADE_CGROUP"
ROOT = Path("/sys/fs/cgroup")
CONTROLLERS = ("pids", "memory", "cpu")
PERIOD_US = 100_000
_EVENTS = {
    "pids": (("pids.events", "max"),),
    "memory": (("memory.events", "oom_kill"), ("memory.oom_control", "oom_kill")),  # v2, then v1
}
"""Where each controller counts the times its limit held: the first of these files that can be read."""
_counter = itertools.count()


@dataclass(frozen=True)
class Budget:
    """What one sandbox may use; 0 leaves a controller out."""

    processes: int
    memory_bytes: int
    cpus: float


class SandboxCgroups:
    """The folders made for one student process: controller -> folder (v2: the same folder for each)."""

    def __init__(self, folders: dict[str, Path]):
        self.folders = folders

    @property
    def held(self) -> set[str]:
        return set(self.folders)

    @classmethod
    def create(cls, budget: Budget) -> tuple[SandboxCgroups, dict[str, str]]:
        """Folders for each controller the budget asks for, and, for each that could not be had, why not."""
        wanted = {
            "pids": [("pids.max", str(budget.processes))] if budget.processes > 0 else None,
            "memory": _memory_settings(budget.memory_bytes) if budget.memory_bytes > 0 else None,
            "cpu": _cpu_settings(budget.cpus) if budget.cpus > 0 else None,
        }
        wanted = {name: settings for name, settings in wanted.items() if settings is not None}
        name = f"dlgrade-{os.getpid()}-{next(_counter)}"
        folders: dict[str, Path] = {}
        why: dict[str, str] = {}
        for controller, parent in _parents(list(wanted)).items():
            if isinstance(parent, str):
                why[controller] = parent
                continue
            folder = parent / name
            try:
                folder.mkdir(exist_ok=True)
                for file, value in wanted[controller]:
                    _write_setting(folder / file, value)
            except OSError as exc:
                why[controller] = f"{folder}: {exc.strerror or exc}"
                if not any(f == folder for f in folders.values()):
                    _rmdir(folder)
                continue
            folders[controller] = folder
        return cls(folders), why

    def procs_files(self) -> list[Path]:
        """Where a process writes its PID to join every folder (once each: v2's folder is shared)."""
        return [folder / "cgroup.procs" for folder in dict.fromkeys(self.folders.values())]

    def pids(self) -> list[int]:
        """Every process in the sandbox, as the kernel counts them."""
        for folder in dict.fromkeys(self.folders.values()):
            try:
                return [int(line) for line in (folder / "cgroup.procs").read_text().split()]
            except OSError:
                continue
        return []

    def hit(self, controller: str) -> int:
        """How often the kernel refused or killed for this controller's limit (forks refused, OOM kills)."""
        folder = self.folders.get(controller)
        if folder is None:
            return 0
        for file, key in _EVENTS.get(controller, ()):
            try:
                lines = (folder / file).read_text().splitlines()
            except OSError:
                continue
            counts = [line.split()[-1] for line in lines if line.split() and line.split()[0] == key]
            return int(counts[0]) if counts and counts[0].isdigit() else 0
        return 0

    def kill_all(self) -> None:
        for _ in range(100):
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            time.sleep(0.01)

    def remove(self) -> None:
        self.kill_all()
        for folder in dict.fromkeys(self.folders.values()):
            _rmdir(folder, tries=50)
        self.folders = {}


def _memory_settings(limit: int) -> list[tuple[str, str]]:
    """v2 and v1 names both, the first that exists of each is written; swap is never a way round the limit, and
    v2 ends the whole sandbox at once when it runs out (oom.group)."""
    return [
        ("memory.max|memory.limit_in_bytes", str(limit)),
        ("memory.swap.max|memory.memsw.limit_in_bytes?", "0|" + str(limit)),
        ("memory.oom.group?", "1"),
    ]


def _cpu_settings(cpus: float) -> list[tuple[str, str]]:
    quota = max(1000, int(cpus * PERIOD_US))
    return [("cpu.max|cpu.cfs_quota_us", f"{quota} {PERIOD_US}|{quota}")]


def _write_setting(path: Path, value: str) -> None:
    """``name|v1name`` with ``value|v1value``: the first file that exists is written; a trailing ``?`` marks a
    file that some kernels lack (no swap accounting), which is then left alone."""
    optional = path.name.endswith("?")
    names, values = path.name.rstrip("?").split("|"), value.split("|")
    for index, name in enumerate(names):
        target = path.with_name(name)
        if target.exists():
            target.write_text(values[min(index, len(values) - 1)])
            return
    if not optional:
        raise FileNotFoundError(2, f"no {' or '.join(names)}")


def _rmdir(folder: Path, tries: int = 1) -> None:
    for _ in range(tries):
        try:
            folder.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.02)


def _parents(controllers: list[str]) -> dict[str, Path | str]:
    """For each controller, the folder to make the sandbox's below, or why there is none."""
    found: dict[str, Path | str] = {}
    own = _own_cgroups()
    v2 = _v2_parent(own)
    for controller in controllers:
        v1 = _v1_parent(own, controller)
        if v1 is not None:
            found[controller] = v1
        elif isinstance(v2, Path) and controller in _enabled(v2, controller):
            found[controller] = v2
        else:
            found[controller] = v2 if isinstance(v2, str) else f"{v2}: the {controller} controller is not delegated"
    return found


def _v1_parent(own: dict[str, str], controller: str) -> Path | None:
    """The grader's own folder in ``controller``'s v1 hierarchy, where this machine mounts one."""
    mount = ROOT / controller
    return mount / own[controller].lstrip("/") if controller in own and (mount / "cgroup.procs").exists() else None


def _own_cgroups() -> dict[str, str]:
    """controller -> this process's v1 cgroup path, and "" -> its v2 path."""
    own: dict[str, str] = {}
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return own
    for line in lines:
        _, names, path = line.split(":", 2)
        for name in names.split(",") if names else [""]:
            own[name] = path
    return own


def _v2_parent(own: dict[str, str]) -> Path | str:
    delegated = os.environ.get(CGROUP_ENV)
    if delegated:
        found = (Path(delegated) / "cgroup.procs").exists()
        return Path(delegated) if found else f"{CGROUP_ENV}={delegated}: no cgroup there"
    if not (ROOT / "cgroup.controllers").exists() or "" not in own:
        return "no cgroup v2 hierarchy here"
    return ROOT / own[""].lstrip("/")


def _enabled(parent: Path, controller: str) -> set[str]:
    """The controllers a new folder below ``parent`` gets, enabling ``controller`` there if it may."""
    control = parent / "cgroup.subtree_control"
    try:
        enabled = set(control.read_text().split())
    except OSError:
        return set()
    try:
        if controller not in enabled and controller in (parent / "cgroup.controllers").read_text().split():
            control.write_text(f"+{controller}")  # refused (EBUSY) where the grader's own processes sit in it
            enabled.add(controller)
    except OSError:
        pass
    return enabled


def leftover_folders() -> list[Path]:
    """Sandbox folders of every hierarchy this machine has, for the sweep after a killed grader."""
    own = _own_cgroups()
    parents = {_v1_parent(own, controller) for controller in CONTROLLERS} | {_v2_parent(own)}
    parents = {parent for parent in parents if isinstance(parent, Path)}
    return [path for parent in parents for path in parent.glob("dlgrade-*-*") if path.is_dir()]
