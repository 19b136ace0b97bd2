"""Run the student's notebook in a separate, confined, limited process and ask it questions.

The parent keeps the clock: every cell and every question has a deadline, and the notebook as a whole has a
budget. A question that hangs, kills the process or fills its scratch space costs that question only: the process
is killed (its whole process group and cgroup), a fresh one (in a fresh sandbox) replays the cells that ran
cleanly, and grading goes on. Starting and ending each process is ``launch``'s; the walls themselves are
``autograder.sandbox.confinement``'s.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from autograder.running import replies
from autograder.running.cells import CellOutcome, record, run_cell
from autograder.running.launch import Launcher, Worker
from autograder.running.limits import (
    Limits,
    StudentBadReply,
    StudentCrashed,
    StudentError,
    StudentTimeout,
    budget_message,
    crash_message,
    timeout_message,
)
from autograder.running.notebook import Cell
from autograder.running.processes import work_folder_prefix
from autograder.sandbox import confinement, framing


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
        self.process_limit_hit = False
        self.disk_limit_hit = False
        self.memory_limit_hit = False
        self._out_of_memory = False  # the last process ended for want of memory
        self.outcomes: list[CellOutcome] = []
        self.restarts = 0
        self.generation = 0
        self._turn = 0  # numbers each request; a reply must carry its request's number
        self.output_total = 0
        self.output_kept = bytearray()
        self._own_workdir = workdir is None
        self.workdir = Path(tempfile.mkdtemp(prefix=work_folder_prefix())) if workdir is None else workdir
        self._deadline = time.monotonic() + limits.total_seconds
        self._launcher = Launcher(limits, device, view, self.workdir)
        self._worker: Worker | None = None

    @property
    def confined(self) -> bool:
        return self.view is not None

    @property
    def isolation_notes(self) -> list[str]:
        """What the report says of each limit that could not be held as asked, and what held instead."""
        return self._launcher.isolation_notes

    # -- lifecycle ---------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the process and run every cell once, recording what each did."""
        self.spawn()
        self.run_cells()

    def spawn(self) -> None:
        """Start the process without waiting for it: it imports torch while the grader gets ready."""
        if self.time_left <= 0:
            raise StudentTimeout(budget_message(self.limits))
        self._worker = self._launcher.start(max(0, self.limits.output_bytes - len(self.output_kept)))
        self.generation += 1

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
        return self._worker is not None and self._worker.running

    def close(self) -> None:
        """Kill every process the notebook started and remove the scratch directory; safe to call twice."""
        self._kill()
        self._launcher.remove()
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
        live = self._worker.output.kept if self._worker is not None else b""
        raw = bytes(self.output_kept + live).decode("utf-8", errors="replace")
        return "".join(outcome.stdout for outcome in self.outcomes) + raw

    @property
    def printed_total(self) -> int:
        live = self._worker.output.total if self._worker is not None else 0
        return sum(outcome.printed for outcome in self.outcomes) + self.output_total + live

    # -- the cells ---------------------------------------------------------------------------------------------
    def run_cells(self) -> None:
        """Run every cell once, in order, recording what each did; a cell that hangs or crashes is skipped."""
        for cell in self.cells:
            outcome = CellOutcome(cell)
            self.outcomes.append(outcome)
            try:
                reply = self._exchange(run_cell(cell, self._room()), self.limits.cell_seconds)
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
            record(outcome, reply)

    def _room(self) -> int:
        """How much more of what the cells print is kept (output_bytes in all)."""
        return max(0, self.limits.output_bytes - sum(len(o.stdout) for o in self.outcomes))

    def _note_limits(self, reply: dict) -> None:
        """A fork refused for the process limit (RLIMIT_NPROC in the sandbox) surfaces as EAGAIN."""
        error = reply.get("error")
        if isinstance(error, dict) and error.get("type") == "BlockingIOError":
            self.process_limit_hit |= "Resource temporarily unavailable" in str(error.get("message", ""))

    # -- questions ---------------------------------------------------------------------------------------------
    def ask(self, request: dict) -> dict:
        """Send one question and return the reply; StudentError if the process hangs, dies or is out of time."""
        if self._worker is None:
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

    def _exchange(self, request: dict, seconds: float) -> dict:
        """Send ``request`` and return its reply, checked (``replies.checked``) before anything reads it."""
        worker = self._worker
        if worker is None:  # a cell replayed before this one ended the process
            raise StudentCrashed(crash_message(request, None, OSError("it had already ended"), self.confined))
        deadline = min(time.monotonic() + seconds, self._deadline)
        budget_bound = deadline == self._deadline
        self._turn += 1
        worker.resume()
        try:
            worker.send(framing.pack_frame(dict(request, n=self._turn)), deadline)
            message = framing.read_frame(lambda size: worker.receive(size, deadline))
            reply = replies.checked(message, self._turn, int(request.get("keep", 0)))
        except (framing.BadFrame, replies.BadReply) as exc:
            if not self._launcher.end_strays(worker):
                self._kill()
            raise StudentBadReply(replies.not_an_answer(str(exc))) from None
        except replies.OutOfTurn as exc:
            self._kill()
            raise StudentCrashed(f"the notebook's process answered out of turn ({exc}); it was restarted") from None
        except TimeoutError:
            self._kill()
            if budget_bound:
                raise StudentTimeout(budget_message(self.limits)) from None
            raise StudentTimeout(timeout_message(request, seconds)) from None
        except (framing.WireError, OSError) as exc:
            status = self._kill(grace=1.0)
            raise StudentCrashed(self._why_killed(crash_message(request, status, exc, self.confined))) from None
        if not self._launcher.end_strays(worker):
            self._kill()
            raise StudentCrashed("the processes this answer started could not all be ended (a fork bomb?)")
        return reply

    # -- restarts and replay -----------------------------------------------------------------------------------
    def _replay(self) -> None:
        """Start a fresh process and rerun the cells that did not hang or crash the last one."""
        self.restarts += 1
        self.spawn()
        for outcome in self.outcomes:
            if outcome.fatal is None:
                try:
                    self._exchange(run_cell(outcome.cell, 0), self.limits.cell_seconds)
                except StudentBadReply:
                    continue  # the cell ran; what its reply said was recorded the first time

    def _recover(self) -> bool:
        """After a cell hung or crashed, bring back the state of the cells before it; False if that failed."""
        try:
            self._replay()
        except StudentError:
            return False
        return True

    def _kill(self, grace: float = 0.0) -> int | None:
        """End the process and all it started; returns its exit status if there was a process."""
        worker, self._worker = self._worker, None
        if worker is None:
            return None
        ending = self._launcher.end(worker, grace)
        self.process_limit_hit |= ending.process_limit_hit
        self._out_of_memory = ending.out_of_memory
        self.memory_limit_hit |= ending.out_of_memory
        self.output_kept += worker.output.kept
        self.output_total += worker.output.total
        return ending.status

    def _why_killed(self, message: str) -> str:
        """A crash the memory cgroup caused says so, by the limit's name."""
        if self._out_of_memory and "memory" not in message:
            said = message.replace(" (sys.exit, os._exit or a crash?)", "")
            return f"{said}: it ran out of memory (memory_mb={self.limits.memory_mb}, all its processes together)"
        return message
