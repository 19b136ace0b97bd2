"""Run every attempt of the escape catalogue (tests/escapes.py) in a student's process, confined as grading confines
it, as whoever runs this script; print one JSON object: attempt name -> what happened.

    python tests/escape_driver.py SCRATCH PORT MARK

SCRATCH holds the submissions folder (the attacker's and a classmate's), PORT is a server on the grader's loopback,
MARK is in the names of the files planted for the attempts to find. A second sandbox, started after the first,
reports what it finds of the files the first left behind.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from escapes import ATTEMPTS, HELPERS, LEFTOVERS  # noqa: E402

from autograder.course.weeks import PACKAGE_DIR  # noqa: E402
from autograder.grading.grade import student_view  # noqa: E402
from autograder.judging.student import Student  # noqa: E402
from autograder.running.limits import Limits  # noqa: E402
from autograder.running.notebook import Cell  # noqa: E402
from autograder.running.student_process import StudentProcess  # noqa: E402

CREDENTIAL = "dlgrade-test-credential"
KEYCTL_JOIN_SESSION_KEYRING, KEYCTL_SEARCH, SESSION, USER = 1, 10, -3, -4
LIBC = ctypes.CDLL(None, use_errno=True)


def hold_a_credential() -> None:
    """Start a session keyring of our own holding a credential, as a login, ``su -l`` or a service has."""
    if (
        LIBC.syscall(250, KEYCTL_JOIN_SESSION_KEYRING, None) < 0
        or LIBC.syscall(248, b"user", CREDENTIAL.encode(), b"s3cr3t", 6, SESSION) < 0
    ):
        raise OSError(ctypes.get_errno(), "could not make a session keyring holding a credential")


def keys_left(mark: str) -> list[str]:
    """What a search of the grader's session and user keyrings finds of a key a sandbox tried to leave, then of the
    grader's own credential (found: the search works)."""
    found = []
    for keyring, name in ((SESSION, f"left-{mark}"), (USER, f"left-{mark}"), (SESSION, CREDENTIAL)):
        key = LIBC.syscall(250, KEYCTL_SEARCH, keyring, b"user", name.encode(), 0)
        found.append("found" if key >= 0 else errno.errorcode.get(ctypes.get_errno(), "?"))
    return found


def grader_still_can() -> list[str]:
    """Machine-side probes after the sandboxes ran: the grader's user can still add a key (no quota filled) and
    make an inotify instance (no count held)."""
    added = LIBC.syscall(248, b"user", b"dlgrade-test-probe", b"x", 1, SESSION)
    key = "done" if added >= 0 else errno.errorcode.get(ctypes.get_errno(), "?")
    watcher = LIBC.inotify_init1(0)
    watch = "done" if watcher >= 0 else errno.errorcode.get(ctypes.get_errno(), "?")
    if watcher >= 0:
        os.close(watcher)
    return [key, watch]


LIMITS = Limits(call_seconds=60, cell_seconds=120, total_seconds=900, disk_mb=64, processes=32)


def cell(number: int, name: str, body: str) -> Cell:
    function = "def _attempt():\n" + textwrap.indent(textwrap.dedent(body).strip(), "    ")
    return Cell(number, f"{function}\n\nRESULTS[{name!r}] = outcome_of(_attempt)\n")


def run(cells: list[Cell], view) -> dict:
    with StudentProcess(cells, LIMITS, view=view) as process:
        process.start()
        results = dict(Student(process).value("RESULTS"))
        results["cells that failed"] = [o.fatal or o.error["message"] for o in process.outcomes if o.fatal or o.error]
    return results


def main(scratch: Path, port: int, mark: str) -> None:
    hold_a_credential()
    submissions = scratch / "submitted"
    notebook = submissions / "ada" / "week1_tensors" / "week1_tensors.ipynb"
    view, _ = student_view(notebook.parent, "cpu", required=True, hidden=(submissions,))
    names = {
        "REPO": str(REPO),
        "PACKAGE": str(PACKAGE_DIR),
        "MARK": mark,
        "GRADER_PID": os.getpid(),
        "PORT": port,
        "DISK_MB": LIMITS.disk_mb,
        "PROCESSES": LIMITS.processes,
        "CREDENTIAL": CREDENTIAL,
    }
    preamble = Cell(1, HELPERS + "".join(f"{k} = {v!r}\n" for k, v in names.items()) + "RESULTS = {}\n")
    attempts = [cell(number, name, body) for number, (name, (body, _)) in enumerate(ATTEMPTS.items(), start=2)]
    outcome = run([preamble, *attempts], view)
    later = run([preamble, cell(2, "left for the next submission", LEFTOVERS)], view)
    outcome["left for the next submission"] = later["left for the next submission"]
    outcome["cells that failed"] += later["cells that failed"]
    outcome["keys left for the next submission"] = keys_left(mark)
    outcome["the grader still can add a key and watch files"] = grader_still_can()
    print(json.dumps(outcome))


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3])
