"""Run the student's notebook in a separate, confined, limited process and ask it questions.

The parent keeps the clock: every cell and every question has a deadline, and the notebook as a whole has a
budget. A question that hangs, kills the process or fills its scratch space costs that question only: the process
is killed (its whole process group and cgroup), a fresh one (in a fresh sandbox) replays the cells that ran
cleanly, and grading goes on. The walls themselves are ``autograder.sandbox.confinement``'s.
"""

from __future__ import annotations

import base64
import contextlib
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from autograder import replies
from autograder.cgroups import Budget, SandboxCgroups
from autograder.notebook import Cell
from autograder.processes import descendants, end_strays, kill_tree, resume, sandbox_members, stop, work_folder_prefix
from autograder.sandbox import confinement, framing

PACKAGE_PARENT = str(Path(__file__).resolve().parent.parent)


@dataclass(frozen=True)
class Limits:
    """What one notebook may use; each limit is reported by name when it is hit."""

    call_seconds: float = 20.0
    """One question: one call of a student function, method or attribute."""
    cell_seconds: float = 120.0
    """One notebook cell, run top to bottom before any question."""
    total_seconds: float = 600.0
    """Everything for one notebook: cells, questions and restarts."""
    memory_mb: int = 4096
    """Data memory of the student's process (RLIMIT_DATA); 0 turns the limit off. Where a memory cgroup can be
    made, everything its sandbox holds in memory counts too: at most memory_mb + disk_mb + 64 MiB (its tmpfs and
    /dev/shm are memory), shared memory, memfds and child processes included."""
    output_bytes: int = 20_000
    """How much of what the notebook prints is kept for the report; the rest is counted and dropped."""
    restarts: int = 8
    """How many times a crashed or hung process is replaced before the remaining questions fail."""
    processes: int = 64
    """Processes and threads the student's process may have at once (RLIMIT_NPROC in its sandbox, and a pids
    cgroup where one can be made)."""
    disk_mb: int = 512
    """Its scratch space: /tmp, home and working folder, one tmpfs of this size (confined only)."""
    threads: int = 8
    """Compute threads (OMP_NUM_THREADS and the BLAS pools) unless the grader's environment sets them."""


class StudentError(Exception):
    """The student's code failed to answer; the message is written for the student."""


class StudentTimeout(StudentError):
    pass


class StudentCrashed(StudentError):
    pass


class StudentBadReply(StudentError):
    """A reply arrived in turn but is not an answer (``replies.BadReply``): it costs that question, no restart."""


@dataclass
class CellOutcome:
    cell: Cell
    error: dict | None = None
    fatal: str | None = None  # the cell hung or killed its process: it is skipped on restart
    skipped_lines: list[str] = field(default_factory=list)
    stdout: str = ""  # what it printed (the first output_bytes), for the student's own view of their notebook
    printed: int = 0  # characters it printed in all
    figures: list[bytes] = field(default_factory=list)  # PNG images of the figures it drew


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


class StudentProcess:
    """The parent's side of the student's process: start, run cells, ask, restart, stop."""

    def __init__(
        self,
        cells: list[Cell],
        limits: Limits,
        device: str = "cpu",
        workdir: Path | None = None,
        view: confinement.View | None = None,
    ):
        """``view`` is what a confined process sees (None: not confined, with a note saying so)."""
        self.cells, self.limits, self.device, self.view = cells, limits, device, view
        self.isolation_notes: list[str] = []
        self.process_limit_hit = False
        self.disk_limit_hit = False
        self.memory_limit_hit = False
        self._oom_kills = 0  # the memory cgroup's count at the last kill: did this one run out of memory?
        self._out_of_memory = False
        self._cgroup: SandboxCgroups | None = None  # made at the first start, kept (emptied by close) after
        self.outcomes: list[CellOutcome] = []
        self.restarts = 0
        self.generation = 0
        self._turn = 0  # numbers each request; a reply must carry its request's number
        self.output_total = 0
        self.output_kept = bytearray()
        self._own_workdir = workdir is None
        self.workdir = Path(tempfile.mkdtemp(prefix=work_folder_prefix())) if workdir is None else workdir
        self._deadline = time.monotonic() + limits.total_seconds
        self._proc: subprocess.Popen | None = None
        self._worker_pid: int | None = None  # the student's Python, outside the sandbox's PID namespace
        self._output: _Output | None = None

    @property
    def confined(self) -> bool:
        return self.view is not None

    # -- lifecycle ---------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the process and run every cell once, recording what each did."""
        self.spawn()
        self.run_cells()

    def spawn(self) -> None:
        """Start the process without waiting for it: it imports torch while the grader gets ready."""
        self._spawn()

    def adopt(self, cells: list[Cell]) -> None:
        """Give a started process, which has run no cell, the notebook it grades (``spare_process``): its time
        budget (total_seconds) starts now."""
        if self.outcomes:
            raise ValueError("adopt: this process has already run a notebook's cells")
        self.cells = cells
        self._deadline = time.monotonic() + self.limits.total_seconds

    @property
    def running(self) -> bool:
        """Started, and not ended since."""
        return self._proc is not None and self._proc.poll() is None

    def run_cells(self) -> None:
        """Run every cell once, in order, recording what each did; a cell that hangs or crashes is skipped."""
        for cell in self.cells:
            outcome = CellOutcome(cell)
            self.outcomes.append(outcome)
            try:
                request = {"op": "run_cell", "label": cell.label, "source": cell.source, "keep": self._room()}
                reply = self._exchange(request, self.limits.cell_seconds)
            except StudentBadReply as exc:
                outcome.error = {"type": "BadReply", "message": str(exc), "where": []}
                continue
            except StudentError as exc:
                outcome.fatal = self._why_killed(str(exc))
                if not self._recover():
                    return
                continue
            self._note_limits(reply)
            if reply.get("disk_full"):
                outcome.fatal = f"{cell.label} filled the scratch space (disk_mb={self.limits.disk_mb})"
                self._kill()
                if not self._recover():
                    return
                continue
            _record(outcome, reply)

    def _room(self) -> int:
        """How much more of what the cells print is kept (output_bytes in all)."""
        return max(0, self.limits.output_bytes - sum(len(o.stdout) for o in self.outcomes))

    def _note_limits(self, reply: dict) -> None:
        """A fork refused for the process limit (RLIMIT_NPROC in the sandbox) surfaces as EAGAIN."""
        error = reply.get("error")
        if isinstance(error, dict) and error.get("type") == "BlockingIOError":
            self.process_limit_hit |= "Resource temporarily unavailable" in str(error.get("message", ""))

    def close(self) -> None:
        """Kill every process the notebook started and remove the scratch directory; safe to call twice."""
        self._kill()
        if self._cgroup is not None:
            self._cgroup.remove()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> StudentProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def time_left(self) -> float:
        return self._deadline - time.monotonic()

    @property
    def printed(self) -> str:
        """What the notebook printed (its cells' output, then anything written past Python's sys.stdout), within
        ``output_bytes`` each, for the report."""
        live = self._output.kept if self._output is not None else b""
        raw = bytes(self.output_kept + live).decode("utf-8", errors="replace")
        return "".join(outcome.stdout for outcome in self.outcomes) + raw

    @property
    def printed_total(self) -> int:
        live = self._output.total if self._output is not None else 0
        return sum(outcome.printed for outcome in self.outcomes) + self.output_total + live

    # -- questions ---------------------------------------------------------------------------------------------
    def ask(self, request: dict) -> dict:
        """Send one question and return the reply; StudentError if the process hangs, dies or is out of time."""
        if self._proc is None:
            if self.restarts >= self.limits.restarts:
                raise StudentCrashed(
                    f"not graded: the notebook's process crashed or hung {self.restarts} times "
                    f"(limit: restarts={self.limits.restarts})"
                )
            self._replay()
        reply = self._exchange(request, self.limits.call_seconds)
        self._note_limits(reply)
        if reply.get("disk_full"):
            self.disk_limit_hit = True
            self._kill()  # the answer stands; the next question starts from a fresh, empty scratch space
        return reply

    # -- internals ---------------------------------------------------------------------------------------------
    def _spawn(self) -> None:
        if self.time_left <= 0:
            raise StudentTimeout(self._budget_message())
        request_r, request_w = os.pipe()
        reply_r, reply_w = os.pipe()
        output_r, output_w = os.pipe()
        processes = self.limits.processes if self.confined else 0  # RLIMIT_NPROC counts per user: only when confined
        command = [sys.executable, "-s", "-m", "autograder.sandbox.worker", str(request_r), str(reply_w)]
        command += [str(self.limits.memory_mb), str(processes)]
        try:
            with self._sandbox(command) as sandbox:
                self._proc = subprocess.Popen(
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
        self._requests, self._replies = request_w, reply_r
        self._output = _Output(output_r, max(0, self.limits.output_bytes - len(self.output_kept)))
        self._output.start()
        self.generation += 1

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

    def _end_strays(self) -> bool:
        """An answer is in: stop the student's Python until the next question (SIGSTOP: no thread of it works
        between answers) and end every other process its question started. Done from out here: the notebook can
        replace anything in its own Python. False if a fork bomb outran the kills."""
        if not self.confined or self._proc is None:
            return True
        bwrap_pid = self._proc.pid
        held = self._cgroup is not None and "pids" in self._cgroup.held
        find = self._cgroup.pids if held else (lambda: descendants(bwrap_pid))  # type: ignore[union-attr]
        if self._worker_pid is None:
            self._worker_pid = sandbox_members(find(), bwrap_pid)[0]
        if self._worker_pid is not None:
            stop(self._worker_pid)
        return end_strays(find, bwrap_pid)

    def _replay(self) -> None:
        """Start a fresh process and rerun the cells that did not hang or crash the last one."""
        self.restarts += 1
        self._spawn()
        for outcome in self.outcomes:
            if outcome.fatal is None:
                try:
                    self._exchange(
                        {"op": "run_cell", "label": outcome.cell.label, "source": outcome.cell.source, "keep": 0},
                        self.limits.cell_seconds,
                    )
                except StudentBadReply:
                    continue  # the cell ran; what its reply said was recorded the first time

    def _recover(self) -> bool:
        """After a cell hung or crashed, bring back the state of the cells before it; False if that failed."""
        try:
            self._replay()
        except StudentError:
            return False
        return True

    def _exchange(self, request: dict, seconds: float) -> dict:
        """Send ``request`` and return its reply, checked (``replies.checked``) before anything reads it."""
        deadline = min(time.monotonic() + seconds, self._deadline)
        budget_bound = deadline == self._deadline
        self._turn += 1
        if self._worker_pid is not None:
            resume(self._worker_pid)
        try:
            self._send(framing.pack_frame(dict(request, n=self._turn)), deadline)
            message = framing.read_frame(lambda size: self._receive(size, deadline))
            reply = replies.checked(message, self._turn, int(request.get("keep", 0)))
        except (framing.BadFrame, replies.BadReply) as exc:
            if not self._end_strays():
                self._kill()
            raise StudentBadReply(replies.not_an_answer(str(exc))) from None
        except replies.OutOfTurn as exc:
            self._kill()
            raise StudentCrashed(f"the notebook's process answered out of turn ({exc}); it was restarted") from None
        except TimeoutError:
            self._kill()
            if budget_bound:
                raise StudentTimeout(self._budget_message()) from None
            raise StudentTimeout(_timeout_message(request, seconds)) from None
        except (framing.WireError, OSError) as exc:
            status = self._kill(grace=1.0)
            raise StudentCrashed(self._why_killed(_crash_message(request, status, exc, self.confined))) from None
        if not self._end_strays():
            self._kill()
            raise StudentCrashed("the processes this answer started could not all be ended (a fork bomb?)")
        return reply

    def _why_killed(self, message: str) -> str:
        """A crash the memory cgroup caused says so, by the limit's name."""
        if self._out_of_memory and "memory" not in message:
            said = message.replace(" (sys.exit, os._exit or a crash?)", "")
            return f"{said}: it ran out of memory (memory_mb={self.limits.memory_mb}, all its processes together)"
        return message

    def _send(self, data: bytes, deadline: float) -> None:
        view = memoryview(data)
        while view:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([], [self._requests], [], remaining)[1]:
                raise TimeoutError
            try:
                view = view[os.write(self._requests, view[:65536]) :]
            except BlockingIOError:
                continue

    def _receive(self, size: int, deadline: float) -> bytes:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([self._replies], [], [], remaining)[0]:
            raise TimeoutError
        return os.read(self._replies, min(size, 1 << 20))

    def _kill(self, grace: float = 0.0) -> int | None:
        """Kill the whole process group; returns the exit status if there was a process.

        ``grace``: a process that closed the channel is given that long to end by itself, so that its own exit
        status is reported (bwrap, outside the sandbox, needs a moment to pass on the worker's)."""
        proc, self._proc = self._proc, None
        self._worker_pid = None
        if proc is None:
            return None
        if grace:
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        kill_tree(proc.pid)
        if self._cgroup is not None:
            self.process_limit_hit = self.process_limit_hit or self._cgroup.hit("pids") > 0
            oom_kills = self._cgroup.hit("memory")
            self._out_of_memory, self._oom_kills = oom_kills > self._oom_kills, oom_kills
            self.memory_limit_hit |= self._out_of_memory
            self._cgroup.kill_all()
        status = proc.wait()
        for fd in (self._requests, self._replies):
            try:
                os.close(fd)
            except OSError:
                pass
        self._collect_output()
        return status

    def _collect_output(self) -> None:
        output, self._output = self._output, None
        if output is not None:
            output.join(timeout=2)
            self.output_kept += output.kept
            self.output_total += output.total

    def _budget_message(self) -> str:
        return f"not graded: the notebook used up its time limit (total_seconds={self.limits.total_seconds:g})"


_PNG = b"\x89PNG\r\n\x1a\n"
_SETPRIV = shutil.which("setpriv")


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


def _record(outcome: CellOutcome, reply: dict) -> None:
    """What a cell did, from its reply (checked and capped by ``replies.checked``); figures must be PNGs."""
    outcome.skipped_lines = reply.get("skipped", [])
    outcome.stdout = reply.get("stdout", "")
    outcome.printed = reply.get("printed", len(outcome.stdout))
    for image in reply.get("figures", []):
        try:
            data = base64.b64decode(image, validate=True)
        except ValueError:
            continue
        if data.startswith(_PNG) and len(data) <= replies.FIGURE_BYTES:
            outcome.figures.append(data)
    if not reply["ok"]:
        outcome.error = reply["error"]


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


def _timeout_message(request: dict, seconds: float) -> str:
    if request.get("op") == "run_cell":
        return f"{request['label']} ran longer than its limit (cell_seconds={seconds:g}) and was stopped"
    return f"no answer within the time limit (call_seconds={seconds:g}): is there an endless loop or input()?"


def _crash_message(request: dict, status: int | None, exc: Exception, confined: bool = False) -> str:
    if confined and status is not None and 128 < status < 128 + signal.NSIG:
        status = 128 - status  # bwrap exits with 128 + the signal that ended the sandbox
    if status is not None and status < 0:
        how = f"was killed by signal {_signal_name(-status)}"
    elif status is not None:
        how = f"exited with status {status}"
    else:
        how = f"stopped answering ({exc})"
    if request.get("op") == "run_cell":
        return f"{request['label']}: the notebook's process {how}"
    return f"the notebook's process {how} while answering (sys.exit, os._exit or a crash?)"
