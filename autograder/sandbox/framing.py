"""Length-prefixed JSON messages over pipes: the framing both processes speak.

Kept apart from ``wire`` (which knows tensors) so the grader can start the student's process before it has
paid for importing torch itself. Parsing is bounded before anything is built: a frame's bytes, its number of
items, its nesting and its integers' digits, so a hostile frame costs a refusal, never the reader's memory or stack.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable

MAX_FRAME_BYTES = 64 * 1024 * 1024
"""Largest message either side accepts (a week's handed-in weights, 20 MB at most, travel as 27 MB of base64); a
bigger one is a broken channel, not an allocation."""

MAX_ITEMS = 1_000_000
"""Most list items and object members one message may hold (tensors travel as one base64 string each)."""

MAX_DIGITS = 1000
"""Most digits of an integer written in a message."""

_HEADER = struct.Struct(">I")


class WireError(Exception):
    """A message was malformed, too large, or the other side went away."""


class BadFrame(WireError):
    """A whole frame arrived, but its bytes are not a message: the channel is still in step, the message is refused."""


def pack_frame(message: dict) -> bytes:
    """One length-prefixed JSON message, ready to write to a pipe."""
    payload = json.dumps(message, allow_nan=True).encode("utf-8")
    if len(payload) > MAX_FRAME_BYTES:
        raise WireError(f"message of {len(payload)} bytes exceeds the {MAX_FRAME_BYTES}-byte limit")
    return _HEADER.pack(len(payload)) + payload


def read_frame(read: Callable[[int], bytes]) -> dict:
    """Receive one message; ``read(n)`` returns up to n bytes and b"" at end of stream.

    WireError: the channel is broken (closed, or a length over the limit); BadFrame: one frame was read whole but
    is not a message within the bounds above."""
    (length,) = _HEADER.unpack(_read_exactly(read, _HEADER.size))
    if length > MAX_FRAME_BYTES:
        raise WireError(f"message of {length} bytes exceeds the {MAX_FRAME_BYTES}-byte limit")
    return parse_message(_read_exactly(read, length))


def parse_message(payload: bytes) -> dict:
    """A frame's payload as a JSON object; BadFrame if it is not one, or holds more than the bounds allow."""
    items = payload.count(b",") + payload.count(b":")  # an upper bound, counted before anything is built
    if items > MAX_ITEMS:
        raise BadFrame(f"message of more than {MAX_ITEMS} items")
    try:
        message = json.loads(payload, parse_int=_bounded_int)
    except RecursionError:
        raise BadFrame("message nested too deeply to read") from None
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError
        raise BadFrame(f"message is not valid JSON: {str(exc)[:200]}") from None
    if not isinstance(message, dict):
        raise BadFrame("message is not a JSON object")
    return message


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_DIGITS:
        raise ValueError(f"an integer of {len(text.lstrip('-'))} digits (at most {MAX_DIGITS})")
    return int(text)


def _read_exactly(read: Callable[[int], bytes], size: int) -> bytes:
    chunks, remaining = [], size
    while remaining:
        chunk = read(remaining)
        if not chunk:
            raise WireError("the other process closed the channel")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)
