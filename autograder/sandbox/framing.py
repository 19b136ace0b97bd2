"""Length-prefixed JSON messages over pipes: the framing both processes speak.

Kept apart from ``wire`` (which knows tensors) so the grader can start the student's process before it has
paid for importing torch itself.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable

MAX_FRAME_BYTES = 256 * 1024 * 1024
"""Largest message either side accepts; a bigger one is a protocol error, not an allocation."""

_HEADER = struct.Struct(">I")


class WireError(Exception):
    """A message was malformed, too large, or the other side went away."""


def pack_frame(message: dict) -> bytes:
    """One length-prefixed JSON message, ready to write to a pipe."""
    payload = json.dumps(message, allow_nan=True).encode("utf-8")
    if len(payload) > MAX_FRAME_BYTES:
        raise WireError(f"message of {len(payload)} bytes exceeds the {MAX_FRAME_BYTES}-byte limit")
    return _HEADER.pack(len(payload)) + payload


def read_frame(read: Callable[[int], bytes]) -> dict:
    """Receive one message; ``read(n)`` returns up to n bytes and b"" at end of stream."""
    (length,) = _HEADER.unpack(_read_exactly(read, _HEADER.size))
    if length > MAX_FRAME_BYTES:
        raise WireError(f"message of {length} bytes exceeds the {MAX_FRAME_BYTES}-byte limit")
    try:
        message = json.loads(_read_exactly(read, length))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WireError(f"message is not valid JSON: {exc}") from None
    if not isinstance(message, dict):
        raise WireError("message is not a JSON object")
    return message


def _read_exactly(read: Callable[[int], bytes], size: int) -> bytes:
    chunks, remaining = [], size
    while remaining:
        chunk = read(remaining)
        if not chunk:
            raise WireError("the other process closed the channel")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)
