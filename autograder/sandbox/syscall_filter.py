"""The system calls the student's process may not make: a seccomp filter, handed to bubblewrap (``--seccomp FD``).

Namespaces hide files, processes and the network; they do not cover the kernel interfaces that are shared by the
whole machine (keyrings, inotify's per-user counts) or that have been the way out of containers (io_uring,
userfaultfd, bpf, perf events). The list below is in the spirit of Docker's default profile and Flatpak's filter:
everything else is allowed, and each refused call fails with EPERM, as a library that probes for one expects, so
it goes on working. The filter is built with libseccomp (through ``pyseccomp``, its ctypes binding) for the
machine's own architecture; a call made through another ABI (32-bit ``int 0x80``, x32) fails with EPERM too.
"""

from __future__ import annotations

import errno
import functools
import os
import tempfile

REFUSED: dict[str, tuple[tuple[str, ...], str]] = {
    "keyrings": (
        ("add_key", "keyctl", "request_key"),
        "the kernel's keyrings are the grader's and the user's: a notebook could read a credential, leave a key for "
        "the next submission or fill the user's key quota",
    ),
    "io_uring": (
        ("io_uring_setup", "io_uring_enter", "io_uring_register"),
        "a second way to make system calls that this filter would not see, and a frequent kernel bug",
    ),
    "kernel tracing": (
        ("perf_event_open", "bpf", "userfaultfd", "lookup_dcookie"),
        "no notebook needs them; each has been the way out of a container",
    ),
    "file watching": (
        ("fanotify_init", "fanotify_mark", "inotify_init", "inotify_init1", "inotify_add_watch"),
        "inotify instances are counted per user on the whole machine: holding them all breaks every other program",
    ),
    "other processes": (
        ("ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd"),
        "reading or steering another process",
    ),
    "mounts": (
        (
            "mount",
            "umount",
            "umount2",
            "pivot_root",
            "chroot",
            "move_mount",
            "open_tree",
            "fsopen",
            "fsconfig",
            "fsmount",
            "fspick",
            "mount_setattr",
        ),
        "the sandbox's file system is built before the notebook starts and must stay as built",
    ),
    "namespaces": (("unshare", "setns"), "a namespace of its own is a way round the sandbox's walls"),
    "the machine": (
        (
            "kexec_load",
            "kexec_file_load",
            "reboot",
            "init_module",
            "finit_module",
            "delete_module",
            "swapon",
            "swapoff",
            "acct",
            "quotactl",
            "syslog",
            "iopl",
            "ioperm",
            "open_by_handle_at",
            "vhangup",
            "uselib",
        ),
        "calls for administrators: modules, swap, the kernel log, raw ports, files by handle",
    ),
}
"""Calls refused outright, by family, with why: the README's table of the sandbox's system calls."""

CLONE_NAMESPACES = {
    "CLONE_NEWNS": 0x00020000,
    "CLONE_NEWCGROUP": 0x02000000,
    "CLONE_NEWUTS": 0x04000000,
    "CLONE_NEWIPC": 0x08000000,
    "CLONE_NEWUSER": 0x10000000,
    "CLONE_NEWPID": 0x20000000,
    "CLONE_NEWNET": 0x40000000,
    "CLONE_NEWTIME": 0x00000080,
}
"""clone() with any of these flags fails with EPERM; without them (threads, fork) it works."""

TERMINAL_IOCTLS = {"TIOCSTI": 0x5412, "TIOCLINUX": 0x541C}
"""ioctl() requests that type into a terminal or reach the console: refused (the command is an int: the upper
half of the register is ignored, as the kernel does)."""

PER_LINUX = 0
"""personality() may only set the default (as Flatpak allows): no ADDR_NO_RANDOMIZE, no READ_IMPLIES_EXEC."""

CLONE3_ERRNO = errno.ENOSYS
"""clone3 passes its flags in memory a filter cannot read: it is refused with ENOSYS, which makes glibc and Python
fall back to clone(), where the flags are checked (as Docker does)."""


class FilterUnavailable(Exception):
    """libseccomp cannot be loaded here; the message says how to get it."""


@functools.cache
def program() -> bytes:
    """The filter as the kernel takes it (classic BPF), for this machine's architecture."""
    try:
        import pyseccomp as seccomp  # noqa: PLC0415 - needs libseccomp at import time
    except (ImportError, RuntimeError, OSError) as exc:
        raise FilterUnavailable(f"libseccomp could not be loaded ({exc}; apt-get install libseccomp2)") from None
    refuse = seccomp.ERRNO(errno.EPERM)
    chosen = seccomp.SyscallFilter(seccomp.ALLOW)
    chosen.set_attr(seccomp.Attr.ACT_BADARCH, refuse)
    for names, _why in REFUSED.values():
        for name in names:
            if _known(seccomp, name):
                chosen.add_rule(refuse, name)
    for flag in CLONE_NAMESPACES.values():
        chosen.add_rule(refuse, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag))
    if _known(seccomp, "clone3"):
        chosen.add_rule(seccomp.ERRNO(CLONE3_ERRNO), "clone3")
    for request in TERMINAL_IOCTLS.values():
        chosen.add_rule(refuse, "ioctl", seccomp.Arg(1, seccomp.MASKED_EQ, 0xFFFFFFFF, request))
    chosen.add_rule(refuse, "personality", seccomp.Arg(0, seccomp.NE, PER_LINUX))
    with tempfile.TemporaryFile() as out:
        chosen.export_bpf(out)
        out.seek(0)
        return out.read()


def _known(seccomp: object, name: str) -> bool:
    """Whether this architecture has the call (inotify_init and iopl are x86's only, for one)."""
    return seccomp.resolve_syscall(seccomp.Arch.NATIVE, name) >= 0  # type: ignore[attr-defined]


def readable_fd() -> int:
    """A pipe's read end holding the filter, for ``bwrap --seccomp FD`` (which reads it to the end and closes it).

    The program is a few hundred bytes, far below a pipe's buffer, so writing it whole never blocks."""
    data = program()
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, data)
    finally:
        os.close(write_end)
    return read_end
