"""Starting the student's process inside its limits, and ending it with everything it started.

One ``Launcher`` serves one notebook: each start (the first, and every restart) is a fresh bubblewrap sandbox
(``autograder.sandbox.confinement``) in the same cgroups, made at the first start, with a small environment that
holds none of the grader's secrets. What a start gives back is a ``Worker``: the live process, its two pipes and
the thread that drains what it prints. Ending one kills its process group and its cgroups' members, and says
which limit, if any, ended it.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from autograder.running.cgroups import Budget, SandboxCgroups
from autograder.running.limits import Limits, StudentCrashed
from autograder.running.processes import descendants, end_strays, kill_tree, resume, sandbox_members, stop
from autograder.sandbox import confinement

PACKAGE_PARENT = str(Path(__file__).resolve().parents[2])
_SETPRIV = shutil.which("setpriv")


class _Output(threading.Thread):
    """Drains the student's stdout and stderr so a flood can neither block it nor fill our memory."""

    def __init__(self, fd: int, keep: int) -> None:
        super().__init__(daemon=True)
        self.fd, self.keep, self.kept, self.total = fd, keep, bytearray(), 0

    def run(self) -> None:
        while chunk := os.read(self.fd, 65536):
            self.total += len(chunk)
            room = self.keep - len(self.kept)
            if room > 0:
                self.kept += chunk[:room]
        os.close(self.fd)


class Worker:
    """One started student process: bytes to it and from it, each before a deadline."""

    def __init__(self, proc: subprocess.Popen, requests: int, replies: int, output: _Output) -> None:
        self.proc, self.output = proc, output
        self._requests, self._replies = requests, replies
        self.worker_pid: int | None = None  # the student's Python, outside the sandbox's PID namespace

    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    def send(self, data: bytes, deadline: float) -> None:
        view = memoryview(data)
        while view:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([], [self._requests], [], remaining)[1]:
                raise TimeoutError
            try:
                view = view[os.write(self._requests, view[:65536]) :]
            except BlockingIOError:
                continue

    def receive(self, size: int, deadline: float) -> bytes:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([self._replies], [], [], remaining)[0]:
            raise TimeoutError
        return os.read(self._replies, min(size, 1 << 20))

    def resume(self) -> None:
        """Let the student's Python run again for the next question (it is stopped between answers)."""
        if self.worker_pid is not None:
            resume(self.worker_pid)

    def close_channel(self) -> None:
        for fd in (self._requests, self._replies):
            try:
                os.close(fd)
            except OSError:
                pass


@dataclass(frozen=True)
class Ending:
    """How a worker ended: its exit status, and whether the pids or memory cgroup had a hand in it."""

    status: int
    process_limit_hit: bool = False
    out_of_memory: bool = False


class Launcher:
    """Starts and ends the processes of one notebook, all in the same cgroups and under the same limits."""

    def __init__(self, limits: Limits, device: str, view: confinement.View | None, workdir: Path) -> None:
        """``view`` is what a confined process sees (None: not confined, with a note saying so)."""
        self.limits, self.device, self.view, self.workdir = limits, device, view, workdir
        self.isolation_notes: list[str] = []
        self._cgroup: SandboxCgroups | None = None  # made at the first start, kept (emptied by remove) after
        self._oom_kills = 0  # the memory cgroup's count at the last kill: did this one run out of memory?

    @property
    def confined(self) -> bool:
        return self.view is not None

    def start(self, keep_output: int) -> Worker:
        """A fresh process running the worker, booting (it imports torch while the grader gets ready); it keeps
        the first ``keep_output`` bytes it prints."""
        request_r, request_w = os.pipe()
        reply_r, reply_w = os.pipe()
        output_r, output_w = os.pipe()
        processes = self.limits.processes if self.confined else 0  # RLIMIT_NPROC counts per user: only when confined
        command = [sys.executable, "-s", "-m", "autograder.sandbox.worker", str(request_r), str(reply_w)]
        command += [str(self.limits.memory_mb), str(processes)]
        try:
            with self._sandbox(command) as sandbox:
                proc = subprocess.Popen(
                    self._in_cgroup(_dies_with_us(sandbox.argv if sandbox else command)),
                    stdin=subprocess.DEVNULL,
                    stdout=output_w,
                    stderr=output_w,
                    pass_fds=(request_r, reply_w, *(sandbox.fds if sandbox else ())),
                    cwd=self.workdir,
                    env=self._environment(),
                    start_new_session=True,
                )
        except (OSError, confinement.ConfinementError) as exc:
            for fd in (request_r, request_w, reply_r, reply_w, output_r, output_w):
                os.close(fd)
            raise StudentCrashed(f"the notebook's process could not be started ({exc})") from None
        for fd in (request_r, reply_w, output_w):
            os.close(fd)
        os.set_blocking(request_w, False)
        output = _Output(output_r, keep_output)
        output.start()
        return Worker(proc, request_w, reply_r, output)

    def end_strays(self, worker: Worker) -> bool:
        """An answer is in: stop the student's Python until the next question (SIGSTOP: no thread of it works
        between answers) and end every other process its question started. Done from out here: the notebook can
        replace anything in its own Python. False if a fork bomb outran the kills."""
        if not self.confined:
            return True
        bwrap_pid = worker.proc.pid
        held = self._cgroup is not None and "pids" in self._cgroup.held
        find = self._cgroup.pids if held else (lambda: descendants(bwrap_pid))  # type: ignore[union-attr]
        if worker.worker_pid is None:
            worker.worker_pid = sandbox_members(find(), bwrap_pid)[0]
        if worker.worker_pid is not None:
            stop(worker.worker_pid)
        return end_strays(find, bwrap_pid)

    def end(self, worker: Worker, grace: float = 0.0) -> Ending:
        """Kill the worker's whole process group and every member of its cgroups.

        ``grace``: a process that closed the channel is given that long to end by itself, so that its own exit
        status is reported (bwrap, outside the sandbox, needs a moment to pass on the worker's)."""
        if grace:
            try:
                worker.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        kill_tree(worker.proc.pid)
        pids_hit = out_of_memory = False
        if self._cgroup is not None:
            pids_hit = self._cgroup.hit("pids") > 0
            oom_kills = self._cgroup.hit("memory")
            out_of_memory, self._oom_kills = oom_kills > self._oom_kills, oom_kills
            self._cgroup.kill_all()
        status = worker.proc.wait()
        worker.close_channel()
        worker.output.join(timeout=2)
        return Ending(status, pids_hit, out_of_memory)

    def remove(self) -> None:
        """Remove the cgroups (their processes are gone: ``end`` emptied them)."""
        if self._cgroup is not None:
            self._cgroup.remove()

    def _sandbox(self, command: list[str]) -> contextlib.AbstractContextManager:
        if self.view is None:
            return contextlib.nullcontext()
        disk_bytes = self.limits.disk_mb * 1024 * 1024
        return confinement.Sandbox(command, self.view, disk_bytes, private=self.workdir)

    def _environment(self) -> dict[str, str]:
        """A small environment: no tokens or secrets of the grader's reach the student's code."""
        passed = ("LANG", "LC_ALL", "OMP_NUM_THREADS", "LD_LIBRARY_PATH")
        env = {name: os.environ[name] for name in passed if name in os.environ}
        threads = env.get("OMP_NUM_THREADS") or str(max(1, min(os.cpu_count() or 1, self.limits.threads)))
        home, scratch = (confinement.HOME, confinement.TMP) if self.confined else (str(self.workdir),) * 2
        env.update(
            PATH=os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]),
            HOME=home,
            TMPDIR=scratch,
            USER="student",
            LOGNAME="student",
            PYTHONPATH=PACKAGE_PARENT,
            PYTHONHASHSEED="0",
            PYTHONDONTWRITEBYTECODE="1",
            MPLBACKEND="Agg",
            MPLCONFIGDIR=os.path.join(home, ".config", "matplotlib"),
            OMP_NUM_THREADS=threads,
            OPENBLAS_NUM_THREADS=threads,
            MKL_NUM_THREADS=threads,
            DLGRADE_WORKER=str(os.getpid()),  # which grader started it: tests find what outlived grading
            DLGRADE_DEVICE=self.device,
            DLGRADE_CONFINED="1" if self.confined else "0",  # in its own PID namespace: it may end all it started
            NO_PROXY="*",
            no_proxy="*",
        )
        if self.device == "cpu":  # "auto" leaves GPUs visible: the grader resolves it while this process boots
            env["CUDA_VISIBLE_DEVICES"] = ""
        elif "CUDA_VISIBLE_DEVICES" in os.environ:
            env["CUDA_VISIBLE_DEVICES"] = os.environ["CUDA_VISIBLE_DEVICES"]
        return env

    def _in_cgroup(self, command: list[str]) -> list[str]:
        """``command``, started from inside the sandbox's cgroups (those that can be made), so that nothing it
        forks, however early, escapes the count."""
        if self._cgroup is None:
            self._cgroup, why = SandboxCgroups.create(self._budget())
            self.isolation_notes += _unheld_notes(why, self.limits, self.confined)
        files = self._cgroup.procs_files()
        if not files:
            return command
        joins = " && ".join(f'echo $$ > "${index}"' for index in range(len(files)))
        return ["/bin/sh", "-c", f'{joins} && shift {len(files) - 1} && exec "$@"', *map(str, files), *command]

    def _budget(self) -> Budget:
        """The sandbox's share of the machine: its processes, all its memory (its tmpfs and /dev/shm are memory),
        and as many CPUs as it has compute threads."""
        memory = self.limits.memory_mb
        if memory > 0 and self.confined:
            memory += self.limits.disk_mb + confinement.SHM_BYTES // (1 << 20)
        cpus = min(self.limits.threads, os.cpu_count() or 1)
        return Budget(self.limits.processes, memory << 20, cpus)


def _dies_with_us(command: list[str]) -> list[str]:
    """``command``, killed by the kernel when the thread that started it ends, however it ends (SIGKILL included):
    util-linux's ``setpriv --pdeathsig``, kept through the exec into bwrap, whose ``--die-with-parent`` passes it
    on. A pool process killed with its batch takes its sandbox with it."""
    return [_SETPRIV, "--pdeathsig", "KILL", "--", *command] if _SETPRIV else command


def _unheld_notes(why: dict[str, str], limits: Limits, confined: bool) -> list[str]:
    """What the report says of each limit no cgroup could hold, and what held instead."""
    notes = []
    if "pids" in why and not confined:  # confined, RLIMIT_NPROC counts the sandbox's own processes
        notes.append(f"no process limit (no pids cgroup could be made: {why['pids']})")
    if "memory" in why and limits.memory_mb > 0:
        notes.append(
            "memory_mb held for the notebook's private data only (RLIMIT_DATA): no memory cgroup could be made "
            f"({why['memory']}), so shared memory and other processes were not counted"
        )
    if "cpu" in why:
        notes.append(f"no CPU share of its own (no cpu cgroup could be made: {why['cpu']}); it ran at low priority")
    return notes
