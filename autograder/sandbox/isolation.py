"""Operating-system isolation of the student's process, applied before any student code runs.

On Linux, where the kernel allows new namespaces (as root, or with unprivileged user namespaces):
  * network namespace: no network at all (a loopback interface that is down);
  * PID namespace with its own /proc: the student's code is PID 1 of a world of its own; it cannot see, signal
    or read the grader's process (its environment, its memory, its open files), and when it ends, every
    process it started ends with it;
  * mount namespace: the hidden graders, the instructor's solutions and the data directories are covered by
    empty read-only tmpfs mounts, so they cannot be read and returned.
Whatever the platform refuses is returned as a note, so the report says plainly what did not hold.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 0x1, 0x2, 0x4, 0x8
MS_REC, MS_PRIVATE = 0x4000, 0x40000


def isolate(hidden: list[str], workdir: str) -> list[str]:
    """Enter new namespaces and hide ``hidden``; returns a note per protection that could not be applied.

    On success this process forks: the child, PID 1 of the new PID namespace, returns and goes on as the
    student's process; the parent waits for it and exits with its status, never returning.
    """
    if not sys.platform.startswith("linux"):
        return [f"network, file and process isolation are not available on {sys.platform}"]
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    uid, gid = os.getuid(), os.getgid()
    flags = CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWPID | (0 if os.geteuid() == 0 else CLONE_NEWUSER)
    if libc.unshare(flags) != 0:
        reason = os.strerror(ctypes.get_errno())
        return [f"network, hidden files and the grader's process are not isolated: new namespaces refused ({reason})"]
    if flags & CLONE_NEWUSER:
        _map_user(uid, gid)
    child = os.fork()
    if child:
        _wait_and_exit(child)
    notes = []
    if libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        return [f"hidden files not covered: cannot make mounts private ({os.strerror(ctypes.get_errno())})"]
    if libc.mount(b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None) != 0:
        notes.append(f"/proc still shows the grader's processes ({os.strerror(ctypes.get_errno())})")
    for path in hidden:
        if os.path.isdir(path) and not os.path.realpath(workdir).startswith(os.path.realpath(path)):
            cover = libc.mount(b"tmpfs", path.encode(), b"tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, b"size=4k")
            if cover != 0:
                notes.append(f"{path} could not be hidden ({os.strerror(ctypes.get_errno())})")
    return notes


def _map_user(uid: int, gid: int) -> None:
    """In a new user namespace keep our own uid and gid, so the files we own stay ours."""
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
        try:
            with open(f"/proc/self/{name}", "w") as handle:
                handle.write(text)
        except OSError:
            pass


def _wait_and_exit(child: int) -> None:
    """The outer process: relay the namespace's exit status, nothing else."""
    while True:
        try:
            _, status = os.waitpid(child, 0)
            break
        except InterruptedError:
            continue
    code = os.waitstatus_to_exitcode(status)
    os._exit(code if code >= 0 else 128 - code)
