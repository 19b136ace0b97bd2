"""Safe encoding of values between the grader and the student's process.

Everything that crosses the process boundary is JSON: numbers, strings, lists, and tagged objects for
tuples, dicts, bytes, tensors and arrays (their raw bytes in base64). Nothing is ever unpickled, so a hostile
student process can send wrong answers but never code. Objects that cannot be sent by value (modules,
optimizers, functions) stay in the student's process and travel as numbered handles.
"""

from __future__ import annotations

import base64
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from autograder.sandbox import text
from autograder.sandbox.framing import MAX_DIGITS, WireError, pack_frame, read_frame

__all__ = ["Handle", "TensorInfo", "WireError", "decode", "encode", "pack_frame", "read_frame", "tensor_info"]

MAX_STRING = 100_000
"""Longest string a decoded value may hold: answers here are short words, paths and names."""
MAX_DIMS = 32
"""Most dimensions of a tensor or array (PyTorch's own limit is 64)."""
MAX_META_ELEMENTS = 16 * 1024 * 1024
"""Most elements a meta tensor (a shape without values) may claim: a frame's worth of float32 values, as the
grader reads it as zeros (``autograder.judging.student``)."""

_NUMPY_KINDS = "biufc"  # bool, signed, unsigned, float, complex: never object arrays
_TORCH_DTYPES = {
    str(dtype).removeprefix("torch."): dtype
    for dtype in (
        torch.bool,
        torch.uint8,
        torch.int8,
        torch.int16,
        torch.int32,
        torch.int64,
        torch.float16,
        torch.bfloat16,
        torch.float32,
        torch.float64,
        torch.complex64,
        torch.complex128,
    )
}


@dataclass(frozen=True)
class Handle:
    """A reference to an object that lives in the student's process."""

    id: int
    type_name: str = "object"
    text: str = ""


@dataclass(frozen=True)
class TensorInfo:
    """What a tensor was in the student's process, beyond its values."""

    device: str
    requires_grad: bool
    is_contiguous: bool
    has_grad_fn: bool


def encode(value: Any, to_handle: Callable[[Any], Handle] | None = None, _depth: int = 0) -> Any:
    """Turn a value into JSON-able data; objects that cannot travel become handles via ``to_handle``."""
    if _depth > 64:
        raise WireError("value is nested more than 64 levels deep")
    if value is None or isinstance(value, (bool, str)):
        return value
    if type(value) is bytes:
        return {"t": "bytes", "v": base64.b64encode(value).decode("ascii")}
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return {"t": "int", "v": str(value)} if isinstance(value, int) and abs(value) > 2**53 else value
    if isinstance(value, Handle):
        return {"t": "handle", "id": value.id, "type": value.type_name, "text": value.text}
    if isinstance(value, torch.Tensor):
        return _encode_tensor(value)
    if isinstance(value, np.ndarray) and value.dtype.kind in _NUMPY_KINDS:
        return _encode_array(value)
    if isinstance(value, np.generic) and value.dtype.kind in _NUMPY_KINDS:
        return _encode_array(np.asarray(value))
    if isinstance(value, torch.dtype):
        return {"t": "dtype", "v": str(value).removeprefix("torch.")}
    if isinstance(value, torch.device):
        return {"t": "device", "v": str(value)}
    if isinstance(value, (list, tuple)) and type(value) in (list, tuple, torch.Size):
        items = [encode(item, to_handle, _depth + 1) for item in value]
        return items if type(value) is list else {"t": "tuple", "v": items}
    if type(value) in (dict, OrderedDict):  # state_dict() is an OrderedDict
        pairs = [[encode(k, to_handle, _depth + 1), encode(v, to_handle, _depth + 1)] for k, v in value.items()]
        return {"t": "dict", "v": pairs}
    if to_handle is None:
        raise WireError(f"cannot send a {type(value).__name__} by value")
    handle = to_handle(value)
    return {"t": "handle", "id": handle.id, "type": handle.type_name, "text": handle.text}


def decode(data: Any, from_handle: Callable[[Handle], Any] | None = None, _depth: int = 0) -> Any:
    """Rebuild a value from ``encode``'s output; raises WireError on anything unexpected."""
    if _depth > 64:
        raise WireError("message is nested more than 64 levels deep")
    if data is None or isinstance(data, (bool, int, float)):
        return data
    if isinstance(data, str):
        if len(data) > MAX_STRING:
            raise WireError(f"a string of {len(data)} characters (at most {MAX_STRING})")
        return text.clean(data, MAX_STRING)
    if isinstance(data, list):
        return [decode(item, from_handle, _depth + 1) for item in data]
    if not isinstance(data, dict) or "t" not in data:
        raise WireError(f"unexpected {type(data).__name__} in message")
    tag = data["t"]
    try:
        if tag == "tuple":
            return tuple(decode(item, from_handle, _depth + 1) for item in data["v"])
        if tag == "dict":
            pairs = [pair for pair in data["v"] if isinstance(pair, list) and len(pair) == 2]
            if len(pairs) != len(data["v"]):
                raise WireError("a dict whose items are not key-value pairs")
            return {decode(k, from_handle, _depth + 1): decode(v, from_handle, _depth + 1) for k, v in pairs}
        if tag == "int":
            digits = data["v"]
            if isinstance(digits, str) and len(digits.lstrip("-")) > MAX_DIGITS:
                raise WireError(f"an integer of more than {MAX_DIGITS} digits")
            return int(_text(digits, MAX_DIGITS + 1))
        if tag == "bytes":
            return _base64(data["v"])
        if tag == "tensor":
            return _decode_tensor(data)
        if tag == "ndarray":
            return _decode_array(data)
        if tag == "dtype":
            return _TORCH_DTYPES[data["v"]]
        if tag == "device":
            return torch.device(data["v"])
        if tag == "handle":
            kind, about = _text(data.get("type", "object")), _text(data.get("text", ""))
            handle = Handle(_count(data["id"], "handle"), kind, about)
            return from_handle(handle) if from_handle else handle
    except WireError:
        raise
    except (KeyError, TypeError, ValueError, RuntimeError, OverflowError, MemoryError, IndexError) as exc:
        raise WireError(f"malformed {_tag_name(tag)} in message: {text.clean(str(exc), 200)}") from None
    raise WireError(f"unknown tag {_tag_name(tag)} in message")


def _tag_name(tag: Any) -> str:
    return repr(text.clean(tag, 40)) if isinstance(tag, str) else f"tag of type {type(tag).__name__}"


def _base64(value: Any) -> bytes:
    if not isinstance(value, str):
        raise TypeError(f"expected base64 text, got {type(value).__name__}")
    return base64.b64decode(value, validate=True)


def _text(value: Any, limit: int = 200) -> str:
    """A short string field of a tagged object; anything else is malformed."""
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return text.clean(value, limit)


def _count(value: Any, what: str, most: int = 2**53) -> int:
    """A whole number field, 0 <= value <= most; bools, floats and strings are malformed."""
    if type(value) is not int or not 0 <= value <= most:
        raise ValueError(f"{what} is not a whole number from 0 to {most}")
    return value


def _shape(value: Any) -> list[int]:
    if not isinstance(value, list) or len(value) > MAX_DIMS:
        raise ValueError(f"shape is not a list of at most {MAX_DIMS} sizes")
    return [_count(size, "a size") for size in value]


def _elements(shape: list[int]) -> int:
    """How many elements ``shape`` holds, in Python's integers (NumPy's int64 product wraps round)."""
    count = 1
    for size in shape:
        count *= size
    return count


def tensor_info(tensor: torch.Tensor) -> TensorInfo | None:
    """The student-side facts recorded for a tensor that came over the wire (None for local tensors)."""
    return getattr(tensor, "_dlgrade_info", None)


def _encode_tensor(tensor: torch.Tensor) -> dict:
    raw = tensor.detach()
    if raw.layout != torch.strided or str(raw.dtype).removeprefix("torch.") not in _TORCH_DTYPES:
        raise WireError(f"cannot send a tensor of layout {raw.layout} and dtype {raw.dtype}")
    if raw.device.type == "meta":  # shapes without values: how graders test device code on any machine
        return {"t": "tensor", "dtype": str(raw.dtype).removeprefix("torch."), "shape": list(raw.shape), "meta": True}
    order = _memory_order(raw)
    flat = raw.permute(order).to("cpu").contiguous().reshape(-1)
    data = flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b""
    return {
        "t": "tensor",
        "dtype": str(raw.dtype).removeprefix("torch."),
        "shape": list(raw.shape),
        "order": order,
        "data": base64.b64encode(data).decode("ascii"),
        "device": str(tensor.device),
        "requires_grad": bool(tensor.requires_grad),
        "contiguous": bool(tensor.is_contiguous()),
        "grad_fn": tensor.grad_fn is not None,
    }


def _decode_tensor(data: dict) -> torch.Tensor:
    dtype = _TORCH_DTYPES[_text(data["dtype"], 40)]
    shape = _shape(data["shape"])
    if data.get("meta") is True:
        if _elements(shape) > MAX_META_ELEMENTS:
            raise WireError(f"a meta tensor of {len(shape)} dimensions claims more than {MAX_META_ELEMENTS} elements")
        tensor = torch.empty(shape, dtype=dtype, device="meta")
        tensor._dlgrade_info = TensorInfo("meta", data.get("requires_grad") is True, True, False)  # type: ignore[attr-defined]
        return tensor
    raw = _base64(data["data"])
    expected = _elements(shape) * torch.empty((), dtype=dtype).element_size()
    if len(raw) != expected:
        raise WireError(f"tensor of shape {tuple(shape)} carries {len(raw)} bytes, not {expected}")
    order = data.get("order", list(range(len(shape))))
    if not isinstance(order, list) or sorted(_count(d, "a dimension") for d in order) != list(range(len(shape))):
        raise WireError(f"tensor layout is not a permutation of its {len(shape)} dimensions")
    stored = [shape[d] for d in order]
    tensor = torch.frombuffer(bytearray(raw), dtype=dtype).reshape(stored) if raw else torch.empty(stored, dtype=dtype)
    tensor = tensor.permute(_inverse(order))
    tensor._dlgrade_info = TensorInfo(  # type: ignore[attr-defined]
        device=_text(data.get("device", "cpu"), 64),
        requires_grad=data.get("requires_grad", False) is True,
        is_contiguous=data.get("contiguous", True) is not False,
        has_grad_fn=data.get("grad_fn", False) is True,
    )
    return tensor


def _memory_order(tensor: torch.Tensor) -> list[int]:
    """Dimensions from outermost to innermost in memory, so a permuted tensor arrives permuted, as it was sent.

    A transposed or permuted input is how graders check that student code copes with non-contiguous tensors.
    """
    order = sorted(range(tensor.dim()), key=lambda d: (-tensor.stride(d), d))
    return order if tensor.permute(order).is_contiguous() else list(range(tensor.dim()))


def _inverse(order: list[int]) -> list[int]:
    inverse = [0] * len(order)
    for position, dim in enumerate(order):
        inverse[dim] = position
    return inverse


def _encode_array(array: np.ndarray) -> dict:
    contiguous = np.ascontiguousarray(array)
    return {
        "t": "ndarray",
        "dtype": contiguous.dtype.str,
        "shape": list(contiguous.shape),
        "data": base64.b64encode(contiguous.tobytes()).decode("ascii"),
    }


def _decode_array(data: dict) -> np.ndarray:
    dtype = np.dtype(_text(data["dtype"], 8))
    if dtype.kind not in _NUMPY_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise WireError(f"refusing an array of dtype {text.clean(str(dtype), 40)}")
    shape = tuple(_shape(data["shape"]))
    raw = _base64(data["data"])
    if len(raw) != _elements(list(shape)) * dtype.itemsize:
        raise WireError(f"array of shape {shape} carries the wrong number of bytes")
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
