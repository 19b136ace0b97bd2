"""The wire format between the grader and the student's process: faithful for data, closed to code."""

from __future__ import annotations

import base64
import pickle

import numpy as np
import pytest
import torch

from autograder.sandbox import wire
from autograder.sandbox.framing import MAX_FRAME_BYTES


@pytest.mark.parametrize(
    "value",
    [
        torch.arange(12, dtype=torch.float32).reshape(3, 4),
        torch.tensor(3.5, dtype=torch.float64),
        torch.zeros(0, 5),
        torch.tensor([True, False]),
        torch.arange(6, dtype=torch.int32).reshape(2, 3).T,
        torch.randn(2, 3, dtype=torch.bfloat16),
    ],
)
def test_tensors_round_trip_exactly(value):
    """Do tensors come back with the same values, dtype, shape and (for permuted tensors) layout?"""
    back = wire.decode(wire.encode(value))
    assert back.dtype == value.dtype and back.shape == value.shape
    assert torch.equal(back, value)
    assert back.is_contiguous() == value.is_contiguous()


def test_tensor_facts_travel_with_it():
    """Does the grader learn the student-side device, grad and contiguity of a returned tensor?"""
    t = torch.ones(2, 2, requires_grad=True) * 2
    info = wire.tensor_info(wire.decode(wire.encode(t)))
    assert info == wire.TensorInfo(device="cpu", requires_grad=True, is_contiguous=True, has_grad_fn=True)


def test_containers_and_scalars_round_trip():
    """Do tuples, dicts with non-string keys, big ints, dtypes, devices and arrays survive?"""
    value = {
        "pair": (1, 2.5),
        3: [None, True, "x"],
        "big": 2**70,
        "dtype": torch.float16,
        "device": torch.device("cpu"),
        "array": np.arange(4, dtype=np.int16),
        "nan": float("nan"),
    }
    back = wire.decode(wire.encode(value))
    assert back["pair"] == (1, 2.5) and back[3] == [None, True, "x"] and back["big"] == 2**70
    assert back["dtype"] is torch.float16 and back["device"] == torch.device("cpu")
    assert back["array"].dtype == np.int16 and back["array"].tolist() == [0, 1, 2, 3]
    assert back["nan"] != back["nan"]


def test_unsendable_objects_become_handles_only_when_allowed():
    """Are objects that cannot travel by value refused, or turned into handles by the student side?"""
    with pytest.raises(wire.WireError):
        wire.encode(torch.nn.Linear(2, 2))
    encoded = wire.encode(torch.nn.Linear(2, 2), lambda obj: wire.Handle(7, type(obj).__name__, "Linear"))
    assert wire.decode(encoded) == wire.Handle(7, "Linear", "Linear")


@pytest.mark.parametrize(
    "message",
    [
        {"t": "pickle", "v": base64.b64encode(pickle.dumps(object())).decode()},
        {"t": "ndarray", "dtype": "|O", "shape": [1], "data": ""},
        {"t": "tensor", "dtype": "float32", "shape": [2, 2], "data": base64.b64encode(b"1234").decode()},
        {"t": "tensor", "dtype": "float32", "shape": [1], "order": [5], "data": base64.b64encode(b"1234").decode()},
        {"t": "tensor", "dtype": "object", "shape": [1], "data": ""},
        {"t": "dict", "v": "not pairs"},
        {"no": "tag"},
    ],
)
def test_malformed_or_hostile_messages_are_refused(message):
    """Is anything but the known, well-formed tags refused with a WireError, never executed?"""
    with pytest.raises(wire.WireError):
        wire.decode(message)


def test_frames_round_trip_and_refuse_oversize():
    """Do frames carry one JSON object each, and is an oversized length refused before reading it?"""
    buffer = bytearray(wire.pack_frame({"ok": True, "value": [1, 2]}))

    def read(n: int) -> bytes:
        chunk = bytes(buffer[:n])
        del buffer[:n]
        return chunk

    assert wire.read_frame(read) == {"ok": True, "value": [1, 2]}
    buffer[:] = (MAX_FRAME_BYTES + 1).to_bytes(4, "big") + b"{}"
    with pytest.raises(wire.WireError, match="exceeds"):
        wire.read_frame(read)
    buffer[:] = wire.pack_frame({"ok": True})[:6]
    with pytest.raises(wire.WireError, match="closed"):
        wire.read_frame(read)
