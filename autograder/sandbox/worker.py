"""The student's process: ``python -m autograder.sandbox.worker REQUEST_FD REPLY_FD MEMORY_MB PROCESSES``.

Its walls (``confinement``) are built before Python starts. Here the limits come first, before torch and numpy
are imported and before any student code runs: data memory (RLIMIT_DATA), no core files, a low priority, and,
when confined, the number of processes and threads (RLIMIT_NPROC, which counts only this sandbox's, in its own
user namespace).
"""

from __future__ import annotations

import os
import resource
import sys

NICE = 10
"""The student's process runs below the grader's priority: where no cpu cgroup shares the machine out, a busy
notebook still yields to the grader and to the rest of the machine."""


def apply_limits(memory_mb: int, processes: int) -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.nice(NICE)
    if memory_mb > 0:
        limit = memory_mb * 1024 * 1024
        try:
            resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
        except (ValueError, OSError, AttributeError):
            pass  # platforms without RLIMIT_DATA: the grader reports the limit as not enforced
    if processes > 0:
        resource.setrlimit(resource.RLIMIT_NPROC, (processes, processes))


def main(argv: list[str]) -> int:
    request_fd, reply_fd, memory_mb, processes = (int(arg) for arg in argv[:4])
    apply_limits(memory_mb, processes)
    from autograder.sandbox.answering import serve  # noqa: PLC0415 - torch loads only once the limits hold

    return serve(request_fd, reply_fd)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
