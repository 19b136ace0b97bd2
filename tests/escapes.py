"""The catalogue of ways out: what a submission's code tries, from inside the student's process, to get past its walls.

Each attempt is the body of a function run there; it returns what happened, in a form a test can compare exactly
(an errno name, a list, a few words). ``ATTEMPTS`` maps a telling name to (body, the outcome every grader must
see). The bodies may use the names the driver defines: ``REPO`` (the checkout being graded from), ``PACKAGE``
(its autograder/), ``MARK`` (a word in the names of the files planted for it to find), ``GRADER_PID``, ``PORT``
(a server listening on the grader's loopback), ``DISK_MB`` and ``PROCESSES`` (its limits), ``CREDENTIAL`` (the
description of a key in the grader's session keyring), and the helpers below.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ByGrader:
    """An outcome that depends on who grades: the kernel answers root's nobody and a file's owner differently
    (EACCES before EROFS, say), and both are refusals."""

    root: object
    unprivileged: object

    def __call__(self, kind: str) -> object:
        return getattr(self, kind)


HELPERS = r'''
import ctypes, errno, os, socket, subprocess, sys, site
LIBC = ctypes.CDLL(None, use_errno=True)


def code(exc):
    return errno.errorcode.get(exc.errno, str(exc.errno)) if isinstance(exc, OSError) else type(exc).__name__


def outcome_of(call):
    try:
        return call()
    except BaseException as exc:
        return "raised " + code(exc)


def attempt(call):
    try:
        call()
        return "done"
    except BaseException as exc:
        return code(exc)


def libc_result(value):
    return "done" if value == 0 else errno.errorcode.get(ctypes.get_errno(), "?")


def write(path, text="x"):
    with open(path, "a") as handle:
        handle.write(text)


def every_file():
    """Every file this process can see (but /proc, /sys and /dev), found once."""
    if not EVERY:
        for top in sorted(os.listdir("/")):
            if top not in ("proc", "sys", "dev"):
                EVERY.extend(os.path.join(folder, name) for folder, _, names in os.walk("/" + top) for name in names)
    return EVERY


def found(predicate):
    return sorted(path for path in every_file() if predicate(path))


EVERY = []
LEFT_RUNNING = []
'''

ATTEMPTS: dict[str, tuple[str, object]] = {
    # -- the hidden graders and the repository ---------------------------------------------------------------
    "unmounts what covers the graders, then reads them": (
        """
        umount = libc_result(LIBC.umount2((PACKAGE + "/graders").encode(), 2))
        return [umount, attempt(lambda: open(PACKAGE + "/graders/week1_tensors.py").read())]
        """,
        ["EPERM", "ENOENT"],  # the system-call filter refuses umount2 before the kernel looks at the path
    ),
    "reads the graders and solutions from the repository's git objects": (
        """
        show = subprocess.run(["git", "-C", REPO, "show", "HEAD:autograder/course/graders/week1_tensors.py"],
                              capture_output=True, text=True)
        return [show.returncode, os.path.exists(REPO + "/.git"), os.path.exists(REPO + "/solutions")]
        """,
        [128, False, False],
    ),
    "appends to the grader's own modules, for later gradings to run": (
        """
        return {name: attempt(lambda: write(PACKAGE + "/" + name, "\\nimport os"))
                for name in ("checks.py", "runner.py", "report.py", "sandbox/answering.py", "sandbox/wire.py")}
        """,
        {
            "checks.py": "EROFS",
            "runner.py": "EROFS",
            "report.py": "EROFS",
            "sandbox/answering.py": ByGrader(root="EACCES", unprivileged="EROFS"),
            "sandbox/wire.py": ByGrader(root="EACCES", unprivileged="EROFS"),
        },
    ),
    "writes a .pth file that every later Python runs": (
        """
        places = [p for p in (*site.getsitepackages(), sys.prefix, sys.base_prefix) if os.path.isdir(p)]
        return sorted({attempt(lambda: write(os.path.join(place, "zz-owned.pth"), "import os")) for place in places})
        """,
        ["EROFS"],
    ),
    "writes into the data folders": (
        """
        return [attempt(lambda: write("/usr/share/datasets/fashion-mnist/owned")),
                attempt(lambda: write("/usr/share/datasets/owned")),
                os.listdir("/usr/share/datasets") if os.path.isdir("/usr/share/datasets") else "absent"]
        """,
        ["ENOENT", "EROFS", []],
    ),
    "reads the held-out test labels": (
        """
        return found(lambda path: "t10k-labels" in path or "test-labels" in path)
        """,
        [],
    ),
    # -- other people's files ------------------------------------------------------------------------------------
    "walks the file system for a classmate's notebook": (
        """
        return found(lambda path: MARK in path)
        """,
        [],
    ),
    "reads other users' files": (
        """
        runtime = tuple(os.path.realpath(p) for p in (sys.prefix, sys.base_prefix))
        homes = found(lambda path: path.startswith(("/root/", "/home/")) and not path.startswith(runtime))
        users = [line.split(":")[0] for line in open("/etc/passwd")]
        return [attempt(lambda: open("/etc/shadow").read()), homes, users]
        """,
        ["ENOENT", [], ["student"]],
    ),
    # -- the machine around it -----------------------------------------------------------------------------------
    "unmounts its /proc to see the machine's processes and their environments": (
        """
        umount = libc_result(LIBC.umount2(b"/proc", 2))
        pids = sorted(int(name) for name in os.listdir("/proc") if name.isdigit())
        secrets = 0
        for pid in pids:
            try:
                secrets += b"DLGRADE_TEST_SECRET" in open(f"/proc/{pid}/environ", "rb").read()
            except OSError:
                pass
        return [umount, pids, secrets, "DLGRADE_TEST_SECRET" in os.environ]
        """,
        ["EPERM", [1, 2], 0, False],  # its own PID namespace: bwrap's init (1) and the student's Python (2)
    ),
    "signals the grader's process": (
        """
        return attempt(lambda: os.kill(GRADER_PID, 0))
        """,
        "ESRCH",
    ),
    "reaches a server on the grader's loopback, and the internet": (
        """
        return [attempt(lambda: socket.create_connection(("127.0.0.1", PORT), timeout=3).close()),
                attempt(lambda: socket.create_connection(("1.1.1.1", 53), timeout=3).close())]
        """,
        ["ECONNREFUSED", "ENETUNREACH"],
    ),
    "sees devices beyond the usual few": (
        """
        return sorted(os.listdir("/dev"))
        """,
        [
            "core",
            "fd",
            "full",
            "null",
            "ptmx",
            "pts",
            "random",
            "shm",
            "stderr",
            "stdin",
            "stdout",
            "tty",
            "urandom",
            "zero",
        ],
    ),
    # -- the walls themselves -----------------------------------------------------------------------------------
    "remounts / read-write, or mounts a file system of its own": (
        """
        remount = libc_result(LIBC.mount(b"none", b"/", None, 0x20 | 0x1000, None))
        tmpfs = libc_result(LIBC.mount(b"tmpfs", b"/tmp", b"tmpfs", 0, b"size=100g"))
        return [remount, tmpfs]
        """,
        ["EPERM", "EPERM"],
    ),
    "makes a user namespace of its own to gain mount rights": (
        """
        child = os.fork()  # the kernel gives a new user namespace only to a single-threaded process
        if child == 0:
            os._exit(0 if LIBC.unshare(0x10000000 | 0x00020000) == 0 else ctypes.get_errno())
        status = os.waitstatus_to_exitcode(os.waitpid(child, 0)[1])
        return "done" if status == 0 else errno.errorcode.get(status, str(status))
        """,
        "EPERM",  # the system-call filter refuses unshare; below it, the namespace allows no user namespaces
    ),
    "joins another namespace": (
        """
        fd = os.open("/proc/1/ns/mnt", os.O_RDONLY)
        return libc_result(LIBC.setns(fd, 0))
        """,
        ByGrader(root="raised EACCES", unprivileged="EPERM"),  # as nobody, bwrap's init is not even open to it
    ),
    "keeps or regains privileges": (
        """
        status = dict(line.split(":\\t", 1) for line in open("/proc/self/status").read().splitlines() if ":\\t" in line)
        become_root = libc_result(LIBC.setuid(0))
        return [status["CapEff"].strip(), status["CapBnd"].strip(), status["NoNewPrivs"].strip(), os.getuid() != 0,
                become_root != "done"]
        """,
        ["0000000000000000", "0000000000000000", "1", True, True],
    ),
    # -- the kernel's shared interfaces (the system-call filter) ---------------------------------------------------
    "reads a credential from the grader's session keyring": (
        """
        search = LIBC.syscall(250, 10, -3, b"user", CREDENTIAL.encode(), 0)  # keyctl(KEYCTL_SEARCH, @s, ...)
        searched = libc_result(0 if search >= 0 else -1)
        requested = libc_result(0 if LIBC.syscall(249, b"user", CREDENTIAL.encode(), None, 0) >= 0 else -1)
        listed = [line for line in outcome_of(lambda: open("/proc/keys").read().splitlines()) if CREDENTIAL in line]
        return [searched, requested, listed]
        """,
        ["EPERM", "EPERM", []],
    ),
    "leaves a key for the next submission, and fills the key quota": (
        """
        def add(name, keyring):
            return libc_result(0 if LIBC.syscall(248, b"user", name.encode(), b"x", 1, keyring) >= 0 else -1)
        left = [add("left-" + MARK, keyring) for keyring in (-3, -4, -5)]  # @s, @u, @us
        quota = sorted({add(f"fill-{number}", -3) for number in range(300)})
        return [left, quota]
        """,
        [["EPERM", "EPERM", "EPERM"], ["EPERM"]],
    ),
    "holds every inotify instance and fanotify group its user may have": (
        """
        inotify = sorted({libc_result(0 if LIBC.inotify_init1(0) >= 0 else -1) for _ in range(200)})
        fanotify = libc_result(0 if LIBC.fanotify_init(0, 0) >= 0 else -1)
        return [inotify, fanotify]
        """,
        [["EPERM"], "EPERM"],
    ),
    "reaches io_uring, userfaultfd, perf events, bpf and ptrace": (
        """
        numbers = {"io_uring_setup": (425, 8, 0), "userfaultfd": (323, 0), "bpf": (321, 0, 0, 0),
                   "perf_event_open": (298, 0, 0, -1, -1, 0), "ptrace": (101, 0x4206, 1, 0, 0)}  # x86_64
        if os.uname().machine != "x86_64":
            numbers = {"io_uring_setup": (425, 8, 0), "userfaultfd": (282, 0), "bpf": (280, 0, 0, 0),
                       "perf_event_open": (241, 0, 0, -1, -1, 0), "ptrace": (117, 0x4206, 1, 0, 0)}  # aarch64
        return {name: libc_result(0 if LIBC.syscall(*args) >= 0 else -1) for name, args in numbers.items()}
        """,
        dict.fromkeys(("io_uring_setup", "userfaultfd", "bpf", "perf_event_open", "ptrace"), "EPERM"),
    ),
    "types into the terminal, turns off address randomisation, or clones into new namespaces": (
        """
        import fcntl, termios
        tty = outcome_of(lambda: os.open("/dev/tty", os.O_RDWR))
        typed = attempt(lambda: fcntl.ioctl(tty if isinstance(tty, int) else 0, termios.TIOCSTI | (1 << 32), b"x"))
        personality = libc_result(0 if LIBC.personality(0x0040000) >= 0 else -1)
        child = LIBC.syscall(56 if os.uname().machine == "x86_64" else 220, 0x10000000 | 17, 0, 0, 0, 0)
        if child == 0:
            os._exit(0)
        cloned = libc_result(0 if child > 0 else -1)
        return [typed, personality, cloned]
        """,
        ["EPERM", "EPERM", "EPERM"],
    ),
    "still starts threads and subprocesses, which need clone and clone3": (
        """
        import threading
        done = []
        thread = threading.Thread(target=lambda: done.append(1))
        thread.start()
        thread.join()
        echoed = subprocess.run(["/bin/echo", "ok"], capture_output=True, text=True).stdout.strip()
        clone3 = libc_result(0 if LIBC.syscall(435, None, 0) >= 0 else -1)
        return [done, echoed, clone3]
        """,
        [[1], "ok", "ENOSYS"],
    ),
    "raises its priority above the grader's": (
        """
        return [os.getpriority(os.PRIO_PROCESS, 0), attempt(lambda: os.setpriority(os.PRIO_PROCESS, 0, 0))]
        """,
        [10, "EACCES"],  # worker.NICE, set before any student code ran
    ),
    # -- nothing outlives its answer --------------------------------------------------------------------------------
    "starts a child that outlives its answer, with the grader's clean-up replaced": (
        """
        import time
        from autograder.sandbox import answering
        answering._end_other_processes = lambda: None
        child = os.fork()
        if child == 0:
            os.setsid()
            time.sleep(600)
            os._exit(0)
        LEFT_RUNNING.append(child)
        return "started"
        """,
        "started",
    ),
    "finds the child it left still running at its next answer": (
        """
        def state(pid):
            try:
                return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
            except OSError:
                return "gone"
        return ["ended" if state(pid) in ("Z", "gone") else "running" for pid in LEFT_RUNNING]
        """,
        ["ended"],
    ),
    # -- writing outside its scratch space, by any path -----------------------------------------------------------
    "writes outside its scratch space, by any path": (
        """
        os.symlink("/usr/owned", "/tmp/link")
        places = ["/owned", "/usr/owned", "/etc/owned", "/dev/owned", sys.prefix + "/owned",
                  sys.base_prefix + "/owned", PACKAGE + "/sandbox/owned", "/tmp/link", "/proc/self/root/usr/owned"]
        outcome = {place: attempt(lambda: write(place)) for place in places}
        outcome["hard link into /usr"] = attempt(lambda: os.link(sys.executable, "/tmp/python"))
        outcome["/proc/sys"] = attempt(lambda: write("/proc/sys/kernel/hostname", "owned"))
        return sorted(set(outcome.values()))
        """,
        ["EACCES", "EROFS", "EXDEV"],
    ),
    "writes without end into its scratch space": (
        """
        chunk, written = b"x" * (1 << 20), 0
        try:
            with open("fill", "wb") as handle:
                while written < 4096 * len(chunk):
                    handle.write(chunk)
                    handle.flush()
                    written += len(chunk)
            result = "not stopped"
        except OSError as exc:
            result = code(exc)
        os.remove("fill")
        return [result, written <= DISK_MB * len(chunk)]
        """,
        ["ENOSPC", True],
    ),
    "forks without end": (
        """
        import time
        children = 0
        try:
            while children < 1000:
                if os.fork() == 0:
                    time.sleep(30)
                    os._exit(0)
                children += 1
            result = "not stopped"
        except OSError as exc:
            result = code(exc)
        return [result, children < PROCESSES]
        """,
        ["EAGAIN", True],
    ),
    "leaves files in /tmp, home and its working folder for the next submission": (
        """
        for place in ("/tmp", os.path.expanduser("~"), os.getcwd()):
            write(os.path.join(place, "left-" + MARK))
        return "written"
        """,
        "written",
    ),
}

LEFTOVERS = """
return found(lambda path: "left-" + MARK in path)
"""
"""Run in the next sandbox: what it finds of the files the last one left."""
