"""What one notebook may use, and the errors that say, in words for the student, how its process failed to answer."""

from __future__ import annotations

import signal
from dataclasses import dataclass


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


def budget_message(limits: Limits) -> str:
    return f"not graded: the notebook used up its time limit (total_seconds={limits.total_seconds:g})"


def timeout_message(request: dict, seconds: float) -> str:
    if request.get("op") == "run_cell":
        return f"{request['label']} ran longer than its limit (cell_seconds={seconds:g}) and was stopped"
    return f"no answer within the time limit (call_seconds={seconds:g}): is there an endless loop or input()?"


def crash_message(request: dict, status: int | None, exc: Exception, confined: bool = False) -> str:
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


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)
