"""Run the student's notebook in a separate, limited process and ask it questions.

The parent keeps the clock: every cell and every question has a deadline, and the notebook as a whole has a
budget. A question that hangs or kills the process costs that question only: the process is killed (its
whole process group), a fresh one replays the cells that ran cleanly, and grading goes on.
"""

from __future__ import annotations

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

from autograder.notebook import Cell
from autograder.processes import PidsCgroup, kill_tree
from autograder.sandbox import framing

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
    """Data memory of the student's process (RLIMIT_DATA); 0 turns the limit off."""
    output_bytes: int = 20_000
    """How much of what the notebook prints is kept for the report; the rest is counted and dropped."""
    restarts: int = 8
    """How many times a crashed or hung process is replaced before the remaining questions fail."""
    processes: int = 64
    """Processes and threads the student's process may have at once (a pids cgroup, where one can be made)."""


class StudentError(Exception):
    """The student's code failed to answer; the message is written for the student."""


class StudentTimeout(StudentError):
    pass


class StudentCrashed(StudentError):
    pass


@dataclass
class CellOutcome:
    cell: Cell
    error: dict | None = None
    fatal: str | None = None  # the cell hung or killed its process: it is skipped on restart
    skipped_lines: list[str] = field(default_factory=list)


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
        hidden: list[Path] | None = None,
    ):
        self.cells, self.limits, self.device = cells, limits, device
        self.hidden = [str(path) for path in hidden or []]
        self.isolation_notes: list[str] = []
        self.process_limit_hit = False
        self._cgroup: PidsCgroup | None = None
        self.outcomes: list[CellOutcome] = []
        self.restarts = 0
        self.generation = 0
        self.output_total = 0
        self.output_kept = bytearray()
        self._own_workdir = workdir is None
        self.workdir = Path(tempfile.mkdtemp(prefix="dlgrade-")) if workdir is None else workdir
        self._deadline = time.monotonic() + limits.total_seconds
        self._proc: subprocess.Popen | None = None
        self._output: _Output | None = None

    # -- lifecycle ---------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the process and run every cell once, recording what each did."""
        self.spawn()
        self.run_cells()

    def spawn(self) -> None:
        """Start the process without waiting for it: it imports torch while the grader gets ready."""
        self._spawn()

    def run_cells(self) -> None:
        """Run every cell once, in order, recording what each did; a cell that hangs or crashes is skipped."""
        for cell in self.cells:
            outcome = CellOutcome(cell)
            self.outcomes.append(outcome)
            try:
                reply = self._exchange(
                    {"op": "run_cell", "label": cell.label, "source": cell.source}, self.limits.cell_seconds
                )
            except StudentError as exc:
                outcome.fatal = str(exc)
                if not self._recover():
                    return
                continue
            if isinstance(reply.get("isolation"), list) and not self.isolation_notes:
                self.isolation_notes = [str(note)[:300] for note in reply["isolation"]][:10]
            if reply.get("ok"):
                outcome.skipped_lines = [str(line) for line in reply.get("skipped", [])][:20]
            else:
                outcome.error = _error_fields(reply)

    def close(self) -> None:
        """Kill every process the notebook started and remove the scratch directory; safe to call twice."""
        self._kill()
        if self._cgroup is not None:
            self._cgroup.remove()
            self._cgroup = None
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
        """The first ``output_bytes`` of what the notebook printed, for the report."""
        live = self._output.kept if self._output is not None else b""
        return bytes(self.output_kept + live).decode("utf-8", errors="replace")

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
        return self._exchange(request, self.limits.call_seconds)

    # -- internals ---------------------------------------------------------------------------------------------
    def _spawn(self) -> None:
        if self.time_left <= 0:
            raise StudentTimeout(self._budget_message())
        request_r, request_w = os.pipe()
        reply_r, reply_w = os.pipe()
        output_r, output_w = os.pipe()
        self._proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "autograder.sandbox.worker",
                str(request_r),
                str(reply_w),
                str(self.limits.memory_mb),
            ],
            stdin=subprocess.DEVNULL,
            stdout=output_w,
            stderr=output_w,
            pass_fds=(request_r, reply_w),
            cwd=self.workdir,
            env=self._environment(),
            start_new_session=True,
        )
        for fd in (request_r, reply_w, output_w):
            os.close(fd)
        self._limit_processes(self._proc.pid)
        os.set_blocking(request_w, False)
        self._requests, self._replies = request_w, reply_r
        self._output = _Output(output_r, max(0, self.limits.output_bytes - len(self.output_kept)))
        self._output.start()
        self.generation += 1

    def _environment(self) -> dict[str, str]:
        """A small environment: no tokens or secrets of the grader's reach the student's code."""
        env = {name: os.environ[name] for name in ("PATH", "LANG", "LC_ALL", "OMP_NUM_THREADS") if name in os.environ}
        env.update(
            HOME=str(self.workdir),
            TMPDIR=str(self.workdir),
            PYTHONPATH=PACKAGE_PARENT,
            PYTHONHASHSEED="0",
            PYTHONDONTWRITEBYTECODE="1",
            MPLBACKEND="Agg",
            DLGRADE_HIDE=os.pathsep.join(self.hidden),
            DLGRADE_DEVICE=self.device,
            NO_PROXY="*",
            no_proxy="*",
        )
        if self.device == "cpu":  # "auto" leaves GPUs visible: the grader resolves it while this process boots
            env["CUDA_VISIBLE_DEVICES"] = ""
        return env

    def _limit_processes(self, pid: int) -> None:
        """Put the new process in a pids cgroup before it runs any student code (it is still importing torch)."""
        if self._cgroup is None and self.limits.processes > 0:
            self._cgroup, reason = PidsCgroup.create(self.limits.processes)
            if reason and reason not in self.isolation_notes:
                self.isolation_notes.append(reason)
        if self._cgroup is not None:
            try:
                self._cgroup.add(pid)
            except OSError as exc:
                self.isolation_notes.append(f"no process limit: {exc}")

    def _replay(self) -> None:
        """Start a fresh process and rerun the cells that did not hang or crash the last one."""
        self.restarts += 1
        self._spawn()
        for outcome in self.outcomes:
            if outcome.fatal is None:
                self._exchange(
                    {"op": "run_cell", "label": outcome.cell.label, "source": outcome.cell.source},
                    self.limits.cell_seconds,
                )

    def _recover(self) -> bool:
        """After a cell hung or crashed, bring back the state of the cells before it; False if that failed."""
        try:
            self._replay()
        except StudentError:
            return False
        return True

    def _exchange(self, request: dict, seconds: float) -> dict:
        deadline = min(time.monotonic() + seconds, self._deadline)
        budget_bound = deadline == self._deadline
        try:
            self._send(framing.pack_frame(request), deadline)
            return framing.read_frame(lambda size: self._receive(size, deadline))
        except TimeoutError:
            self._kill()
            if budget_bound:
                raise StudentTimeout(self._budget_message()) from None
            raise StudentTimeout(_timeout_message(request, seconds)) from None
        except (framing.WireError, OSError) as exc:
            status = self._kill()
            raise StudentCrashed(_crash_message(request, status, exc)) from None

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

    def _kill(self) -> int | None:
        """Kill the whole process group; returns the exit status if there was a process."""
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        kill_tree(proc.pid)
        if self._cgroup is not None:
            self.process_limit_hit = self.process_limit_hit or self._cgroup.hit_limit()
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


def _error_fields(reply: dict) -> dict:
    error = reply.get("error")
    if not isinstance(error, dict):
        return {"type": "Error", "message": "the notebook's process sent a malformed error", "where": []}
    where = error.get("where")
    return {
        "type": str(error.get("type", "Error"))[:100],
        "message": str(error.get("message", ""))[:2000],
        "where": [str(line)[:300] for line in where][:3] if isinstance(where, list) else [],
    }


def _timeout_message(request: dict, seconds: float) -> str:
    if request.get("op") == "run_cell":
        return f"{request['label']} ran longer than its limit (cell_seconds={seconds:g}) and was stopped"
    return f"no answer within the time limit (call_seconds={seconds:g}): is there an endless loop or input()?"


def _crash_message(request: dict, status: int | None, exc: Exception) -> str:
    if status is not None and status < 0:
        how = f"was killed by signal {signal.Signals(-status).name}"
    elif status is not None:
        how = f"exited with status {status}"
    else:
        how = f"stopped answering ({exc})"
    if request.get("op") == "run_cell":
        return f"{request['label']}: the notebook's process {how}"
    return f"the notebook's process {how} while answering (sys.exit, os._exit or a crash?)"
