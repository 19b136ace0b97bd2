"""Entry point of the student's process: ``python -m autograder.sandbox.worker REQUEST_FD REPLY_FD MEMORY_MB``.

Order matters. Isolation comes first, while the process is still single-threaded (the kernel refuses a new
user namespace to a threaded process, and numpy starts threads on import); then the memory limit; only then
torch, numpy and the code that answers questions. Nothing of the student's runs before all of it.
"""

from __future__ import annotations

import os
import resource
import sys


def _limit_memory(megabytes: int) -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if megabytes <= 0:
        return
    limit = megabytes * 1024 * 1024
    try:
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    except (ValueError, OSError, AttributeError):
        pass  # platforms without RLIMIT_DATA: the grader reports the limit as not enforced


def main(argv: list[str]) -> int:
    request_fd, reply_fd, memory_mb = int(argv[0]), int(argv[1]), int(argv[2])
    notes: list[str] = []
    if os.environ.get("DLGRADE_ISOLATE", "1") == "1":
        from autograder.sandbox.isolation import isolate

        hidden = [path for path in os.environ.get("DLGRADE_HIDE", "").split(os.pathsep) if path]
        notes = isolate(hidden, os.getcwd())
    _limit_memory(memory_mb)
    from autograder.sandbox.answering import serve

    return serve(request_fd, reply_fd, notes)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
