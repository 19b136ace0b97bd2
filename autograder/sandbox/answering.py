"""Inside the student's process: run the notebook's cells, then answer the grader's questions.

It only ever *answers*: it calls the student's functions on inputs the grader sends and returns what they
produced. It never sees a reference value or a point, so whatever the student's code does here (patch torch,
print fake scores, exit) can change answers, never verdicts. ``worker.py`` starts it once its limits hold.
"""

from __future__ import annotations

import base64
import builtins
import io
import linecache
import os
import random
import sys
import tempfile
import traceback
import types
from contextlib import redirect_stderr, redirect_stdout
from typing import Any

import numpy as np
import torch

from autograder.sandbox import wire

_SHELL_PREFIXES = ("%", "!")


class _Shell:
    """Stands in for IPython's shell: magics and ``!commands`` are skipped, never run, while grading."""

    def __init__(self) -> None:
        self.skipped: list[str] = []

    def run_line_magic(self, name: str, line: str, *_: Any) -> None:
        self.skipped.append(f"%{name} {line}".strip())

    def run_cell_magic(self, name: str, line: str, cell: str) -> None:
        self.skipped.append(f"%%{name} {line}".strip())

    def system(self, command: str) -> None:
        self.skipped.append(f"!{command}")

    getoutput = system


class _Capture(io.TextIOBase):
    """What a cell prints, kept up to ``keep`` characters and counted beyond: the student's own output, for them."""

    def __init__(self, keep: int) -> None:
        self.keep, self.kept, self.total = keep, io.StringIO(), 0

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        text = str(text)
        room = self.keep - self.kept.tell()
        if room > 0:
            self.kept.write(text[:room])
        self.total += len(text)
        return len(text)


class Worker:
    """Holds the student's namespace and the objects the grader refers to by handle.

    The namespace is a real ``__main__`` module, as in Jupyter: a class the notebook defines can be pickled.
    """

    def __init__(self, as_main: bool = True) -> None:
        self.shell = _Shell()
        module = types.ModuleType("__main__")
        module.__dict__.update(__builtins__=builtins, get_ipython=lambda: self.shell)
        if as_main:
            sys.modules["__main__"] = module
        self.namespace: dict[str, Any] = module.__dict__
        self.objects: dict[int, Any] = {}
        self.cell_files: set[str] = set()  # the names the cells were compiled under: tracebacks show only these

    def handle_for(self, value: Any) -> wire.Handle:
        handle_id = len(self.objects) + 1
        self.objects[handle_id] = value
        text = object.__repr__(value) if isinstance(value, type) else _short_repr(value)
        return wire.Handle(handle_id, type(value).__name__, text)

    def decode(self, data: Any) -> Any:
        """A value from the grader, as the grader had it: a tensor that required grad requires it here too."""
        return _track_gradients(wire.decode(data, self.resolve))

    def resolve(self, handle: wire.Handle) -> Any:
        if handle.id not in self.objects:
            raise LookupError(f"no object with handle {handle.id}")
        return self.objects[handle.id]

    def answer(self, request: dict) -> dict:
        op = request.get("op")
        if op == "run_cell":
            return self.run_cell(request["label"], request["source"], int(request.get("keep", 20_000)))
        if op == "put":
            return {"ok": True, "value": wire.encode(self.handle_for(self.decode(request["value"])))}
        if op == "tool":
            from autograder.sandbox.probes import TOOLS  # noqa: PLC0415 - only weeks that probe need it

            if request.get("name") not in TOOLS:
                raise LookupError(f"no grader tool named {request.get('name')!r}")
            return {"ok": True, "value": wire.encode(self.handle_for(TOOLS[request["name"]]))}
        target = self.target(request["target"])
        if op == "call":
            args = self.decode(request.get("args", []))
            kwargs = self.decode(request.get("kwargs", {"t": "dict", "v": []}))
            result = target(*args, **kwargs)
        elif op == "getattr":
            result = getattr(target, request["name"])
        elif op == "setitem":
            target[self.decode(request["key"])] = self.decode(request["value"])
            result = None
        elif op == "fetch":
            result = target
        else:
            raise ValueError(f"unknown request {op!r}")
        if request.get("want") == "handle":
            return {"ok": True, "value": wire.encode(self.handle_for(result))}
        return {"ok": True, "value": wire.encode(result, self.handle_for)}

    def target(self, spec: dict) -> Any:
        if "global" in spec:
            name = spec["global"]
            if name not in self.namespace:
                raise NameError(f"the notebook defines no `{name}`")
            return self.namespace[name]
        return self.resolve(wire.Handle(int(spec["handle"])))

    def run_cell(self, label: str, source: str, keep: int = 20_000) -> dict:
        """Run one cell; the reply carries what it printed (the first ``keep`` characters) and drew."""
        before = len(self.shell.skipped)
        printed = _Capture(keep)
        try:
            with redirect_stdout(printed), redirect_stderr(printed):
                if any(line.lstrip().startswith(_SHELL_PREFIXES) for line in source.splitlines()):
                    source = _python_from_ipython(source)
                filename = f"<{label}>"
                self.cell_files.add(filename)
                linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
                exec(compile(source, filename, "exec"), self.namespace)
            reply: dict = {"ok": True}
        except BaseException as exc:  # noqa: BLE001 - SystemExit too: it ends the cell, not the process
            reply = {"ok": False, "error": describe_error(exc, self.cell_files)}
        reply.update(skipped=self.shell.skipped[before:], stdout=printed.kept.getvalue(), printed=printed.total)
        reply["figures"] = _figures()
        return reply


def _track_gradients(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        info = wire.tensor_info(value)
        if info is not None and info.requires_grad and value.is_floating_point():
            value.requires_grad_(True)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _track_gradients(item)
    elif isinstance(value, dict):
        for item in value.values():
            _track_gradients(item)
    return value


def _figures(most: int = 4, largest: int = 1_000_000) -> list[str]:
    """The figures a cell left open, as base64 PNGs (then closed), as Jupyter's inline backend shows them."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is None:
        return []
    images = []
    try:
        for number in pyplot.get_fignums()[:most]:
            buffer = io.BytesIO()
            pyplot.figure(number).savefig(buffer, format="png", dpi=72)
            if buffer.tell() <= largest:
                images.append(base64.b64encode(buffer.getvalue()).decode("ascii"))
        pyplot.close("all")
    except Exception:  # noqa: BLE001 - the student's code may have broken matplotlib: no figures, no failure
        return images
    return images


def _python_from_ipython(source: str) -> str:
    """Rewrite magics and shell lines into calls on ``get_ipython()``, as IPython itself does."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)


def _short_repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a student's __repr__ may raise anything
        text = f"<{type(value).__name__}>"
    return text if len(text) <= 200 else text[:197] + "..."


def describe_error(exc: BaseException, cell_files: set[str] = frozenset()) -> dict:
    """The error as the student should read it: type, message, and only the frames in their cells (by the cell's
    label and the line inside it)."""
    frames = [frame for frame in traceback.extract_tb(exc.__traceback__) if frame.filename in cell_files]
    where = [
        f"{frame.filename[1:-1]}, line {frame.lineno}, in {frame.name}: {(frame.line or '').strip()}"
        for frame in frames[-3:]
    ]
    if isinstance(exc, SyntaxError) and exc.filename in cell_files:
        where = [f"{exc.filename[1:-1]}, line {exc.lineno}: {(exc.text or '').strip()}"]
    message = _short_repr(exc.args[0]) if len(exc.args) == 1 and not isinstance(exc.args[0], str) else str(exc)
    return {"type": type(exc).__name__, "message": message[:2000], "where": where}


def serve(request_fd: int, reply_fd: int) -> int:
    """Answer requests until the grader closes the channel; each reply says whether the scratch space is full."""
    requests = os.fdopen(request_fd, "rb", buffering=0)
    replies = os.fdopen(reply_fd, "wb", buffering=0)
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    _start_cuda()
    worker = Worker()
    server = os.getpid()
    while True:
        try:
            request = wire.read_frame(requests.read)
        except wire.WireError:
            return 0
        _reap()  # what the grader ended after the last answer: zombies would count against the process limit
        try:
            reply = worker.answer(request)
        except BaseException as exc:  # noqa: BLE001 - SystemExit and KeyboardInterrupt are the student's too
            reply = {"ok": False, "error": describe_error(exc, worker.cell_files)}
        if os.getpid() != server:
            os._exit(0)  # a fork made by the student's code came back here: only the server answers
        if os.environ.get("DLGRADE_CONFINED") == "1":
            _end_other_processes()
        if _scratch_is_full():
            reply["disk_full"] = True
        reply["n"] = request.get("n")  # the request's turn: the grader refuses a reply to any other
        try:
            frame = wire.pack_frame(reply)
        except (wire.WireError, ValueError, TypeError) as exc:
            frame = wire.pack_frame({"ok": False, "error": describe_error(exc, worker.cell_files), "n": reply["n"]})
        _write_all(replies, frame)


def _start_cuda() -> None:
    """Pay CUDA's start-up (seconds on a GPU runner) while the grader boots, not inside a timed cell or answer,
    so a GPU's first use never runs a part out of its call_seconds. Only where the grader left a GPU in sight."""
    if os.environ.get("DLGRADE_DEVICE") in ("cuda", "auto") and torch.cuda.is_available():
        try:
            torch.zeros(1, device="cuda").sum().item()
        except RuntimeError:
            pass  # a GPU that fails here fails in the student's code too, where the message reaches the report


def _end_other_processes() -> None:
    """In the student's own PID namespace, end whatever the last answer started (children, fork bombs), before the
    answer is sent. The notebook can replace this; the grader ends them again from outside once the answer is in.

    kill(-1) reaches every process of that namespace it may signal except its init (bwrap's) and itself, and
    nothing outside it.
    """
    import signal

    if any(name.isdigit() and int(name) not in (1, os.getpid()) for name in os.listdir("/proc")):
        try:
            os.kill(-1, signal.SIGKILL)
        except OSError:
            pass
    _reap()


def _reap() -> None:
    """Collect the exit status of every child that has ended."""
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG) == (0, 0):
                break
        except ChildProcessError:
            break


def _scratch_is_full() -> bool:
    """Whether the scratch space (a size-capped tmpfs when confined) has less than a mebibyte left."""
    try:
        stats = os.statvfs(tempfile.gettempdir())
    except OSError:
        return False
    return stats.f_bavail * stats.f_frsize < 1 << 20


def _write_all(stream: Any, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[stream.write(view) :]
