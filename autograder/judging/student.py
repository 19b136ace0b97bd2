"""What a grader sees of a student's notebook: its names, called from outside the student's process.

``student.flatten_images(x)`` sends ``x`` to the student's process, calls their function there and brings the
result back by value (tensors, arrays, numbers, lists). Objects that cannot travel (a model, an optimizer)
come back as ``Remote`` objects whose attributes and methods are again questions to the student's process.
Every failure is a ``StudentError`` whose message names the student's call, not the grader's code.
"""

from __future__ import annotations

import os
import posixpath
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

from autograder.judging import disclosure
from autograder.running.limits import StudentCrashed, StudentError
from autograder.running.replies import not_an_answer
from autograder.running.student_process import StudentProcess
from autograder.sandbox import wire


class Student:
    """The student's notebook, after its cells ran; attribute access reaches its global names."""

    def __init__(self, process: StudentProcess):
        self._process = process

    def __getattr__(self, name: str) -> Remote:
        if name.startswith("_"):
            raise AttributeError(name)
        return Remote(self, {"global": name}, name, self._process.generation)

    def value(self, name: str) -> Any:
        """A global of the notebook, by value."""
        return getattr(self, name).fetch()

    def put(self, value: Any) -> Remote:
        """Place a value in the student's process and keep a handle to it, e.g. to change it after a call."""
        disclosure.withhold(value)
        remote = _expect_remote(self._ask({"op": "put", "value": wire.encode(value)}, _describe(value), want="handle"))
        remote._text = _describe(value)
        return remote

    def tool(self, name: str, shown_as: str | None = None) -> Remote:
        """One of ``autograder.sandbox.probes.TOOLS``, in the student's process: instruments the graders build there.

        ``shown_as``: what feedback calls a call of the tool (the student's call it makes, say ``scale_pixels(<uint8
        tensor>)``), so that an error in the student's code never names the grader's own helper."""
        remote = _expect_remote(self._ask({"op": "tool", "name": name}, name, want="handle"))
        remote._text = name
        remote._call_text = shown_as
        return remote

    @contextmanager
    def folder(self) -> Iterator[StudentFolder]:
        """A fresh folder in the student's scratch space, removed afterwards: where the grader's files (weights,
        checkpoints, images) are handed to the student's code, and where that code writes its own."""
        path = self.tool("make_folder")()
        try:
            yield StudentFolder(self, str(path))
        finally:
            try:
                self.tool("remove_folder")(path)
            except StudentError:
                pass  # the process is gone, and its scratch space with it

    def _request(self, request: dict, call_text: str) -> Any:
        reply = self._process.ask(request)
        if not reply.get("ok"):
            raise StudentError(_explain(call_text, reply.get("error")))
        return reply.get("value")

    def _ask(self, request: dict, call_text: str, want: str = "value") -> Any:
        data = self._request(dict(request, want=want), call_text)
        try:
            value = _with_values(wire.decode(data, self._remote))
        except wire.WireError as exc:
            raise StudentError(f"{call_text}: {not_an_answer(str(exc))}") from None
        disclosure.allow(value)  # what came back is the student's own: feedback may show it
        return value

    def _remote(self, handle: wire.Handle) -> Remote:
        text = f"<{handle.type_name}>"
        return Remote(self, {"handle": handle.id}, text, self._process.generation, handle.type_name)


class StudentFolder:
    """A folder as the student's process sees it; its files are written and checked there, never read here."""

    def __init__(self, student: Student, path: str):
        self._student, self.path = student, path

    def __truediv__(self, name: str) -> str:
        return posixpath.join(self.path, name)

    def __str__(self) -> str:
        return self.path

    def write(self, name: str, data: bytes) -> str:
        """Put ``data`` in the folder as ``name`` (subfolders are made); returns its path."""
        self._student.tool("write_file")(self / name, data)
        return self / name

    def exists(self, name: str) -> bool:
        """Whether the student's code left a file called ``name`` here."""
        return self._student.tool("is_file")(self / name) is True


class Remote:
    """An object living in the student's process (a function, a class, a model, a list the student built)."""

    def __init__(self, student: Student, target: dict, text: str, generation: int, type_name: str = ""):
        self._student, self._target, self._text = student, target, text
        self._generation, self.type_name = generation, type_name
        self._call_text: str | None = None  # a call's text in feedback, if not built from its arguments

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        text = self._call_text or f"{self._text}({_describe_args(args, kwargs)})"
        request = {"op": "call", "target": self._live_target(), "args": self._encode(list(args))}
        request["kwargs"] = self._encode(dict(kwargs))
        return self._student._ask(request, text)

    def handle(self, *args: Any, **kwargs: Any) -> Remote:
        """Call, but keep the result in the student's process (e.g. a model to call methods on)."""
        text = self._call_text or f"{self._text}({_describe_args(args, kwargs)})"
        request = {"op": "call", "target": self._live_target(), "args": self._encode(list(args))}
        request["kwargs"] = self._encode(dict(kwargs))
        result = _expect_remote(self._student._ask(request, text, want="handle"))
        result._text = text
        return result

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return self.attr(name)

    def attr(self, name: str) -> Any:
        """An attribute's value; methods and other objects come back as Remote."""
        text = f"{self._text}.{name}"
        result = self._student._ask({"op": "getattr", "target": self._live_target(), "name": name}, text)
        if isinstance(result, Remote):
            result._text = text
        return result

    def named(self, text: str) -> Remote:
        """Show this object in feedback as ``text`` (say ``<model with batch norm>``), not as the calls that made it."""
        self._text = text
        return self

    def pinned(self) -> Remote:
        """This object as a handle: what a notebook global names now, whatever the notebook rebinds it to later."""
        request = {"op": "fetch", "target": self._live_target()}
        result = _expect_remote(self._student._ask(request, self._text, "handle"))
        result._text = self._text
        return result

    def fetch(self) -> Any:
        """This object by value (a tensor, a number, a list); a Remote again if it cannot travel."""
        return self._student._ask({"op": "fetch", "target": self._live_target()}, self._text)

    def __setitem__(self, key: Any, value: Any) -> None:
        request = {"op": "setitem", "target": self._live_target(), "key": self._encode(key)}
        request["value"] = self._encode(value)
        self._student._request(request, f"{self._text}[{key!r}] = ...")

    def _live_target(self) -> dict:
        if self._generation != self._student._process.generation and "handle" in self._target:
            raise StudentCrashed(f"{self._text} was lost when the notebook's process was restarted")
        return self._target

    def _encode(self, value: Any) -> Any:
        disclosure.withhold(value)  # the grader's inputs: feedback names their shapes, never their values
        return wire.encode(value, self._to_handle)

    def _to_handle(self, value: Any) -> wire.Handle:
        if isinstance(value, Remote) and "global" in value._target:
            value = value.pinned()  # a notebook global given as an argument: the object it names now
        if isinstance(value, Remote):
            return wire.Handle(int(value._live_target()["handle"]))
        raise StudentError(f"the grader cannot send a {type(value).__name__} to the notebook")

    def __repr__(self) -> str:
        return self._text


def _with_values(value: Any) -> Any:
    """``value`` with each meta tensor (a shape without values) as zeros that still say they were on 'meta'
    (``wire.tensor_info``): a grader reads any answer's values, and checks the device where it asks for one. Their
    size is bounded as they are decoded (``wire.MAX_META_ELEMENTS``)."""
    if isinstance(value, torch.Tensor) and value.is_meta:
        zeros = torch.zeros(value.shape, dtype=value.dtype)
        zeros._dlgrade_info = wire.tensor_info(value)  # type: ignore[attr-defined]
        return zeros
    if type(value) in (list, tuple):
        return type(value)(_with_values(item) for item in value)
    if type(value) is dict:
        return {key: _with_values(item) for key, item in value.items()}
    return value


def _expect_remote(value: Any) -> Remote:
    if not isinstance(value, Remote):
        raise StudentCrashed("the notebook's process answered out of turn (did the code fork?)")
    return value


_TEMP_PATH = re.compile(re.escape(tempfile.gettempdir().rstrip(os.sep) + os.sep) + r"[^\\\s'\",)]+")


def _hide_temp(text: str) -> str:
    """Temporary folder names are not feedback (they would make two gradings differ): a path in one becomes
    ``<temporary folder>``, followed by the file's own name where it names a file."""

    def shorten(match: re.Match) -> str:
        name = match.group(0).rstrip("/").rsplit("/", 1)[-1]
        return "<temporary folder>/" + name if "." in name.strip(".") else "<temporary folder>"

    return _TEMP_PATH.sub(shorten, text)


def _describe(value: Any) -> str:
    """How an argument is shown in feedback: shapes and dtypes, never the grader's values."""
    if isinstance(value, torch.Tensor):
        return f"<tensor of shape {tuple(value.shape)}, {str(value.dtype).removeprefix('torch.')}>"
    if isinstance(value, np.ndarray):
        return f"<array of shape {value.shape}, {value.dtype}>"
    if isinstance(value, Remote):
        return repr(value)
    if isinstance(value, str):
        value = _hide_temp(value)
    if isinstance(value, (list, tuple)) and len(value) > 4:
        return f"<{type(value).__name__} of {len(value)} items>"
    if isinstance(value, dict):  # a state_dict: its names and its tensors' shapes
        text = "{" + ", ".join(f"{key!r}: {_describe(item)}" for key, item in list(value.items())[:4]) + "}"
        return text if len(value) <= 4 else text[:-1] + f", ... ({len(value)} items)}}"
    if isinstance(value, (list, tuple)):
        inner = ", ".join(_describe(item) for item in value)
        return f"[{inner}]" if isinstance(value, list) else f"({inner}{',' * (len(value) == 1)})"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _describe_args(args: tuple, kwargs: dict) -> str:
    return ", ".join([_describe(a) for a in args] + [f"{k}={_describe(v)}" for k, v in kwargs.items()])


def _explain(call_text: str, error: Any) -> str:
    if not isinstance(error, dict):
        return f"{call_text} failed"
    kind, message = (
        str(error.get("type", "Error")),
        disclosure.student_message(_hide_temp(str(error.get("message", "")))),
    )
    where = error.get("where") or []
    if kind == "NameError" and message.startswith("the notebook defines no"):
        return f"{message}: keep the name from the assignment's template"
    if kind == "NotImplementedError":
        return f"{call_text} is not implemented yet (it raises NotImplementedError)"
    text = f"{call_text} raised {kind}: {message}"
    if where:  # a source line, which the student's code could have written from what it saw
        text += f" (at {disclosure.student_message(str(where[-1]))})"
    if kind == "MemoryError" or "can't allocate memory" in message:
        text += " (the notebook ran out of memory: limit memory_mb)"
    elif "No space left on device" in message:
        text += " (the notebook filled its scratch space: limit disk_mb)"
    elif kind == "BlockingIOError" and "Resource temporarily unavailable" in message:
        text += " (the notebook started too many processes or threads: limit processes)"
    return text
