"""The walls around the student's process, built by bubblewrap (``bwrap``, the sandbox Flatpak uses).

Deny by default. The student's process starts in an empty root and sees only what is bound into it, read-only:
the system's ``/usr`` (and the merged-/usr links), a few files of ``/etc`` (the loader's cache; ``passwd``,
``group`` and ``hosts`` written for the sandbox), the Python runtime and installed packages this grader runs with,
and the worker's own code (``autograder/__init__.py`` and this package, in an otherwise empty, read-only
``autograder/``: never the graders). Whatever must stay
hidden inside those (the repository, data sets, a package installed beside the graders) is covered by an empty,
read-only tmpfs. It may write only to one size-capped tmpfs at ``/tmp`` (its home and working folder are in it)
and a small ``/dev/shm``; ``/`` and ``/dev`` are read-only. It has its own user, PID, network, IPC, UTS and cgroup
namespaces, a ``/proc`` of its own PID namespace, no capabilities, ``no_new_privs``, and no way to make user
namespaces of its own: it can neither unmount nor remount nor reach another namespace. A seccomp filter
(``syscall_filter``) refuses the kernel interfaces namespaces do not cover: keyrings, io_uring, inotify, bpf, ...

As root, bwrap would map the student to root outside (and root is exempt from RLIMIT_NPROC), so the grader
makes the user namespace itself with util-linux's ``unshare``, mapping root and ``nobody``, and the sandbox
drops to ``nobody`` with util-linux's ``setpriv`` before Python starts: the student is never root, as root or not.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from autograder.sandbox import syscall_filter

BWRAP_ENV = "DLGRADE_BWRAP"
"""Which bwrap to run (default: the one on PATH); tests point it at a missing file to see the refusal."""
HOME, WORKDIR, TMP = "/tmp/home", "/tmp/work", "/tmp"
SHM_BYTES = 64 * 1024 * 1024
NOBODY = 65534
SYSTEM_DIRS = ("/usr",)
MERGED_USR = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
ETC_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/etc/alternatives")
MASKED_PROC = ("/proc/keys", "/proc/key-users", "/proc/kcore", "/proc/timer_list", "/proc/sched_debug")
"""Files of the sandbox's /proc that show the machine's, not the sandbox's (the keys of every keyring its user may
view, the kernel's memory and timers): empty, as Docker masks them."""
GPU_SYS = ("/sys/block", "/sys/bus", "/sys/class", "/sys/dev", "/sys/devices")  # what Flatpak shows of /sys


class ConfinementError(Exception):
    """The sandbox cannot be built here; the message is one line that says why."""


@dataclass(frozen=True)
class View:
    """What the student's process may see beyond the runtime, and what it must not, even inside what it may."""

    package_dir: Path
    """The ``autograder`` package: only its ``__init__.py`` and ``sandbox/`` are shown."""
    hidden: tuple[Path, ...] = ()
    """Never shown: the repository, the submissions, data the graders own."""
    gpu: bool = False
    """Show the NVIDIA devices and the parts of /sys CUDA reads."""
    extra_env: dict[str, str] = field(default_factory=dict)


def bwrap() -> str | None:
    """The bwrap executable, or None."""
    chosen = os.environ.get(BWRAP_ENV) or shutil.which("bwrap")
    return chosen if chosen and os.access(chosen, os.X_OK) else None


@functools.cache
def unavailable() -> str | None:
    """None where the student's process can be confined on this machine; else the reason, in one line."""
    if not sys.platform.startswith("linux"):
        return f"bubblewrap confines processes on Linux only, and this is {sys.platform}"
    if bwrap() is None:
        return "bubblewrap is not installed (apt-get install bubblewrap)"
    if os.geteuid() == 0 and not (shutil.which("unshare") and shutil.which("setpriv")):
        return "util-linux's unshare and setpriv are needed to confine student code as root"
    try:
        syscall_filter.program()
    except syscall_filter.FilterUnavailable as exc:
        return f"the sandbox's system-call filter cannot be built: {exc}"
    try:
        with Sandbox(["/bin/true"], View(Path(__file__).resolve().parent.parent), disk_bytes=1 << 20) as sandbox:
            probe = subprocess.run(sandbox.argv, pass_fds=sandbox.fds, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError, ConfinementError) as exc:
        return f"bubblewrap could not start a sandbox here ({exc})"
    if probe.returncode != 0:
        said = (probe.stderr.strip().splitlines() or [f"exit status {probe.returncode}"])[-1][:200]
        return f"bubblewrap could not start a sandbox here ({said}); see docs/github.md, 'Confinement'"
    return None


@functools.cache
def _supports(option: str) -> bool:
    path = bwrap()
    if path is None:
        return False
    return option in subprocess.run([path, "--help"], capture_output=True, text=True).stdout


class Sandbox:
    """One confined start of ``command``: the bwrap command line, and the descriptors it must inherit.

    Use it as a context manager around the start (``subprocess.Popen(sandbox.argv, pass_fds=sandbox.fds)``):
    as root it holds the user namespace made for the sandbox until bwrap has entered it.
    """

    def __init__(self, command: list[str], view: View, disk_bytes: int, private: Path | None = None) -> None:
        self.command, self.view, self.disk_bytes, self.private = command, view, disk_bytes, private
        self.fds: tuple[int, ...] = ()
        self._holder: subprocess.Popen | None = None
        self._userns_fd: int | None = None
        self._filter_fd: int | None = None
        self.argv: list[str] = []

    def __enter__(self) -> Sandbox:
        path = bwrap()
        if path is None:
            raise ConfinementError("bubblewrap is not installed")
        try:
            self._filter_fd = syscall_filter.readable_fd()
            self.fds = (self._filter_fd,)
            if os.geteuid() == 0:
                self._userns_fd = self._root_user_namespace()
                self.fds += (self._userns_fd,)
        except syscall_filter.FilterUnavailable as exc:
            raise ConfinementError(str(exc)) from None
        except BaseException:
            self.__exit__()
            raise
        if os.geteuid() == 0:
            namespaces = ["--userns", str(self._userns_fd), "--unshare-pid", "--unshare-net", "--unshare-ipc"]
            namespaces += ["--unshare-uts", "--unshare-cgroup-try", "--cap-drop", "ALL"]
            namespaces += [arg for cap in ("CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP") for arg in ("--cap-add", cap)]
            drop = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
            command = [*drop, "--inh-caps=-all", "--bounding-set=-all", "--", *self.command]
        else:
            namespaces = ["--unshare-all", "--unshare-user", "--cap-drop", "ALL"]
            namespaces += ["--disable-userns"] if _supports("--disable-userns") else []
            command = self.command
        # bwrap's own init is PID 1 of the sandbox, not the student's Python: it dies with bwrap (--die-with-parent),
        # and the kernel then kills every process of the PID namespace, whatever the student's code did to itself.
        lifetime = ["--die-with-parent", "--new-session", "--hostname", "sandbox", "--seccomp", str(self._filter_fd)]
        self.argv = [path, *namespaces, *lifetime, *self._filesystem(), "--", *command]
        return self

    def __exit__(self, *exc: object) -> None:
        """bwrap has entered the namespace and read the filter (or failed to start): let go of them."""
        for fd in (self._userns_fd, self._filter_fd):
            if fd is not None:
                os.close(fd)
        self._userns_fd = self._filter_fd = None
        if self._holder is not None:
            self._holder.stdin.close()  # type: ignore[union-attr]
            self._holder.wait()
            self._holder = None

    # -- as root: a user namespace that maps root and nobody -------------------------------------------------------
    def _root_user_namespace(self) -> int:
        """A new user namespace in which root is root and nobody is nobody, allowing no user namespaces below it.

        bwrap maps only one user, itself, so a sandbox started by root would hold root's files as their owner and
        escape RLIMIT_NPROC; in this namespace bwrap sets up as root and the student runs as nobody.
        """
        # The shell execs itself again once the map is written: only then is it root, with capabilities, in there.
        limit = "echo 0 > /proc/sys/user/max_user_namespaces && echo ready && exec cat"
        holder = subprocess.Popen(
            ["unshare", "--user", "--", "/bin/sh", "-c", f"read go && exec /bin/sh -c '{limit}'"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self._holder = holder
        own = os.readlink("/proc/self/ns/user")
        deadline = time.monotonic() + 10
        while os.readlink(f"/proc/{holder.pid}/ns/user") == own:
            if holder.poll() is not None or time.monotonic() > deadline:
                raise ConfinementError(f"unshare --user failed: {holder.stderr.read().decode()[-200:].strip()}")  # type: ignore[union-attr]
            time.sleep(0.001)
        for name in ("uid_map", "gid_map"):
            Path(f"/proc/{holder.pid}/{name}").write_text(f"0 0 1\n{NOBODY} {NOBODY} 1\n")
        holder.stdin.write(b"go\n")  # type: ignore[union-attr]
        holder.stdin.flush()  # type: ignore[union-attr]
        if holder.stdout.readline() != b"ready\n":  # type: ignore[union-attr]
            said = holder.stderr.read().decode(errors="replace").strip()[-200:]  # type: ignore[union-attr]
            raise ConfinementError(f"the sandbox's user namespace could not forbid nested ones ({said})")
        return os.open(f"/proc/{holder.pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)

    # -- the file system -----------------------------------------------------------------------------------------
    def _filesystem(self) -> list[str]:
        system = [Path(p) for p in SYSTEM_DIRS if os.path.isdir(p)]  # what they hold of the hidden is covered below
        binds = _outermost(system + _runtime_paths(self.view))
        package = self.view.package_dir
        shown = [package / "__init__.py", package / "sandbox"]
        covers = [h for h in self.view.hidden if h.exists() and any(_inside(h, b) for b in binds)]
        covers.append(package)  # read-only, holding only what is shown of it, wherever it lies
        etc = [Path(p) for p in ETC_FILES] + [Path("/etc/passwd")]
        sys_dirs = [Path(p) for p in GPU_SYS] if self.view.gpu else []
        made = _ancestors([*binds, *covers, *shown, *etc, *sys_dirs], binds)
        # First what everything else may sit inside (a checkout or a venv under /tmp): /proc, /dev and the scratch.
        args = ["--proc", "/proc", "--dev", "/dev", "--size", str(SHM_BYTES), "--perms", "1777", "--tmpfs", "/dev/shm"]
        args += [arg for name in MASKED_PROC if os.path.exists(name) for arg in ("--ro-bind", "/dev/null", name)]
        args += ["--size", str(self.disk_bytes), "--perms", "1777", "--tmpfs", TMP]
        args += [arg for folder in made for arg in ("--perms", "0755", "--dir", str(folder))]
        for link in MERGED_USR:
            if os.path.islink(link):
                args += ["--symlink", os.readlink(link), link]
            elif os.path.isdir(link):
                args += ["--ro-bind", link, link]
        for path in binds:
            args += ["--ro-bind", str(path), str(path)]
        for path in sorted(covers, key=lambda p: len(p.parts)):
            args += ["--perms", "0755", "--tmpfs", str(path)]
        for path in shown:
            args += ["--ro-bind", str(path), str(path)]
        for path in ETC_FILES:
            args += ["--ro-bind-try", path, path]
        args += self._identity_files()
        if self.view.gpu:
            args += [arg for dev in sorted(Path("/dev").glob("nvidia*")) for arg in ("--dev-bind", str(dev), str(dev))]
            args += [arg for path in sys_dirs for arg in ("--ro-bind-try", str(path), str(path))]
        args += ["--perms", "0777", "--dir", HOME, "--perms", "0777", "--dir", WORKDIR, "--chdir", WORKDIR]
        for path in [*covers, Path("/dev"), Path("/")]:
            args += ["--remount-ro", str(path)]
        return args

    def _identity_files(self) -> list[str]:
        """/etc/passwd, /etc/group and /etc/hosts that name only the sandbox's own user and host."""
        if self.private is None:
            return []
        uid, gid = (NOBODY, NOBODY) if os.geteuid() == 0 else (os.getuid(), os.getgid())
        contents = {
            "passwd": f"student:x:{uid}:{gid}:student:{HOME}:/bin/sh\n",
            "group": f"student:x:{gid}:\n",
            "hosts": "127.0.0.1 localhost sandbox\n::1 localhost\n",
        }
        args = []
        for name, text in contents.items():
            path = self.private / name
            path.write_text(text)
            path.chmod(0o644)
            args += ["--ro-bind", str(path), f"/etc/{name}"]
        return args


def _runtime_paths(view: View) -> list[Path]:
    """The interpreter and the packages it imports from: its prefixes and site-packages folders, never other
    sys.path entries (the folder Python was started in, a script's folder: the repository, a home)."""
    import site  # noqa: PLC0415

    prefixes = [Path(p) for p in {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}]
    found = [*prefixes, *map(Path, site.getsitepackages())]
    found += [Path(e) for e in sys.path if Path(e).name in ("site-packages", "dist-packages") and os.path.isabs(e)]
    paths = []
    for path in {variant for entry in found for variant in (entry, entry.resolve())}:
        if path.exists() and path not in _NEVER and not _holds_any(path, view.hidden):
            paths.append(path)
    return paths


_NEVER = {Path(p) for p in ("/", TMP, "/dev", "/proc", "/sys", "/etc", "/home", "/root", "/var")}


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _holds_any(path: Path, hidden: Iterable[Path]) -> bool:
    """``path`` is a hidden folder or one of its ancestors: binding it would show what is hidden."""
    return any(_inside(h, path) for h in hidden)


def _outermost(paths: list[Path]) -> list[Path]:
    """Each path once, without those inside another: one bind shows them already."""
    unique = sorted(set(paths), key=lambda p: (len(p.parts), str(p)))
    kept: list[Path] = []
    for path in unique:
        if not any(_inside(path, outer) for outer in kept):
            kept.append(path)
    return kept


def _ancestors(paths: list[Path], binds: list[Path]) -> list[Path]:
    """The folders bwrap must make above ``paths`` (outside what is bound), outermost first, traversable by all:
    as root it would make them 0700, and the student's process runs as nobody."""
    found = {parent for path in paths for parent in path.parents if parent not in (Path("/"), Path(TMP))}
    outside = [p for p in found if not any(_inside(p, bound) for bound in binds) and str(p) not in MERGED_USR]
    return sorted(outside, key=lambda p: (len(p.parts), str(p)))
