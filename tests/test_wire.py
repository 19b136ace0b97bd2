"""The wire format between the grader and the student's process: faithful for data, closed to code."""

from __future__ import annotations

import base64
import pickle

import numpy as np
import pytest
import torch

from autograder.running import replies
from autograder.running.replies import BadReply, OutOfTurn
from autograder.sandbox import wire
from autograder.sandbox.framing import MAX_FRAME_BYTES, BadFrame, parse_message


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


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b'{"v": ' + b"9" * 5000 + b"}", "5000 digits"),
        (b'{"v": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", "nested too deeply"),
        (b'{"v": [' + b"0," * 1_000_001 + b"0]}", "items"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[1, 2]", "not a JSON object"),
    ],
)
def test_whole_frames_that_are_not_messages_are_refused(payload, reason):
    """Is a frame whose bytes are too big a number, too deep, too many items or not JSON refused as that frame
    alone (BadFrame: the channel stays in step), before it costs the reader's memory or stack?"""
    with pytest.raises(BadFrame, match=reason):
        parse_message(payload)


@pytest.mark.parametrize(
    "data",
    [
        {"t": "tensor", "dtype": "float32", "shape": [2**32, 2**32], "data": ""},
        {"t": "tensor", "dtype": "float32", "shape": [-1], "data": ""},
        {"t": "tensor", "dtype": "float32", "shape": [True], "data": "AAAAAA=="},
        {"t": "tensor", "dtype": "uint8", "shape": [1], "data": 5},
        {"t": "tensor", "dtype": "float32", "shape": [10**15, 10**15], "meta": True},
        {"t": "ndarray", "dtype": "<f4", "shape": [2**32, 2**32], "data": ""},
        {"t": "ndarray", "dtype": "i4,f8", "shape": [1], "data": "AAAAAAAAAAAAAAA="},
        {"t": "handle", "id": float("inf")},
        {"t": "handle", "id": 1, "type": ["x"]},
        {"t": "dict", "v": [[1, 2, 3]]},
        {"t": "int", "v": "9" * 1001},
        {"t": ["tuple"], "v": []},
        "x" * (wire.MAX_STRING + 1),
    ],
)
def test_values_that_lie_are_refused(data):
    """Does every shape, count, handle or text that does not add up raise WireError (a wrong answer), never another
    error or an allocation of what it claims?"""
    with pytest.raises(wire.WireError):
        wire.decode(data)


def test_decoded_text_is_valid_unicode():
    """Is a lone surrogate (which no UTF-8 file can hold) shown as U+FFFD once decoded?"""
    assert wire.decode("a\ud800b") == "a\ufffdb"


@pytest.mark.parametrize(
    ("message", "problem"),
    [
        ({"ok": True, "n": 6}, OutOfTurn),
        ({"ok": True}, OutOfTurn),
        ({"ok": True, "n": "7"}, OutOfTurn),
        ({"ok": "yes", "n": 7}, BadReply),
        ({"ok": False, "n": 7, "error": 5}, BadReply),
        ({"ok": False, "n": 7, "error": {"type": "E", "message": "m", "where": "abc"}}, BadReply),
        ({"ok": True, "n": 7, "stdout": 5}, BadReply),
        ({"ok": True, "n": 7, "stdout": "", "skipped": 1}, BadReply),
        ({"ok": True, "n": 7, "stdout": "", "printed": -1}, BadReply),
        ({"ok": True, "n": 7, "stdout": "", "figures": "x"}, BadReply),
    ],
)
def test_replies_are_checked_field_by_field(message, problem):
    """Is a reply to another turn refused as out of turn, and one with a field of the wrong type as not an answer?"""
    with pytest.raises(problem):
        replies.checked(message, 7, keep=100)


def test_checked_replies_keep_only_bounded_text():
    """Are an error's texts cut to their limits and made valid Unicode, and unknown fields dropped?"""
    error = {"type": "E" * 10_000, "message": "\ud800" + "m" * 10_000, "where": ["w"] * 10}
    reply = replies.checked({"ok": False, "n": 3, "error": error, "extra": 1}, 3, keep=0)
    assert set(reply) == {"ok", "value", "error", "disk_full"}
    assert len(reply["error"]["type"]) <= replies.ERROR_TYPE_CHARS
    assert len(reply["error"]["message"]) <= replies.MESSAGE_CHARS and reply["error"]["message"][0] == "\ufffd"
    assert len(reply["error"]["where"]) == replies.WHERE_LINES
