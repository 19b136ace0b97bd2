"""The one boundary where what the student's process sends becomes the grader's data.

The student's code runs the worker's own Python, so every reply may have been written by it. Each is checked
here, field by field, before anything else touches it: its turn, the type of every field, and the length of every
text (cut, and made valid Unicode). What the value itself holds is checked as it is decoded (``wire.decode``), and
the frame's size, items, nesting and digits as it is read (``framing``). A reply that fails is ``BadReply``: that
question's wrong answer, with the reason. The limits are the README's "Limits" table.
"""

from __future__ import annotations

from typing import Any

from autograder.sandbox import text

ERROR_TYPE_CHARS = 100
"""An error's class name, as a report shows it."""
MESSAGE_CHARS = 2000
"""An error's message, and each line of the student's code it points to (300)."""
WHERE_CHARS, WHERE_LINES = 300, 3
SKIPPED_LINES = 20
"""Skipped magics and shell lines kept per cell (300 characters each)."""
FIGURES, FIGURE_BYTES = 4, 1_000_000
"""Figures kept per cell, and the largest PNG of one."""
MAX_PRINTED = 2**62
"""A count of printed characters above this is a lie."""


class BadReply(Exception):
    """A whole reply arrived, in turn, but it is not an answer; the message says why, for the student."""


class OutOfTurn(Exception):
    """A reply to another question (a stale, repeated or forged turn): the channel cannot be trusted any more."""


def checked(message: dict, turn: int, keep: int) -> dict:
    """``message`` as the reply to question ``turn``: only the known fields, each of the right type and size.

    ``keep``: how many characters of printed output a cell's reply may bring."""
    if message.get("n") != turn or type(message.get("n")) is not int:
        raise OutOfTurn(f"a reply for turn {_short(message.get('n'))} came when turn {turn} was asked")
    ok = message.get("ok")
    if type(ok) is not bool:
        raise BadReply("its 'ok' is not true or false")
    reply: dict[str, Any] = {"ok": ok, "value": message.get("value")}
    if not ok:
        reply["error"] = error_fields(message.get("error"))
    reply["disk_full"] = message.get("disk_full") is True
    if "stdout" in message or "skipped" in message:
        reply.update(cell_fields(message, keep))
    return reply


def error_fields(error: Any) -> dict:
    """The error a reply describes: its class name, message and the student's lines it points to."""
    if not isinstance(error, dict):
        raise BadReply("its error is not a description of an error")
    kind, message, where = error.get("type", "Error"), error.get("message", ""), error.get("where", [])
    if not isinstance(kind, str) or not isinstance(message, str):
        raise BadReply("its error's type or message is not text")
    if not isinstance(where, list) or not all(isinstance(line, str) for line in where):
        raise BadReply("its error's location is not a list of lines")
    return {
        "type": text.clean(kind, ERROR_TYPE_CHARS),
        "message": text.clean(message, MESSAGE_CHARS),
        "where": [text.clean(line, WHERE_CHARS) for line in where[-WHERE_LINES:]],
    }


def cell_fields(message: dict, keep: int) -> dict:
    """What a cell's reply says it printed, skipped and drew."""
    stdout, printed = message.get("stdout", ""), message.get("printed", 0)
    skipped, figures = message.get("skipped", []), message.get("figures", [])
    if not isinstance(stdout, str) or type(printed) is not int or not 0 <= printed <= MAX_PRINTED:
        raise BadReply("what it says the cell printed is not text and a count")
    if not isinstance(skipped, list) or not all(isinstance(line, str) for line in skipped):
        raise BadReply("its skipped lines are not a list of lines")
    if not isinstance(figures, list) or not all(isinstance(image, str) for image in figures):
        raise BadReply("its figures are not a list of images")
    return {
        "stdout": text.clean(stdout, keep),
        "printed": max(printed, min(len(stdout), keep)),
        "skipped": [text.clean(line, WHERE_CHARS) for line in skipped[:SKIPPED_LINES]],
        "figures": [image for image in figures[:FIGURES] if len(image) <= FIGURE_BYTES * 4 // 3 + 4],
    }


def not_an_answer(reason: str) -> str:
    """The feedback for a question whose reply failed a check."""
    return f"the notebook's process sent a reply that is not an answer: {reason}"


def _short(value: Any) -> str:
    return text.clean(repr(value), 40) if isinstance(value, (int, str, type(None))) else type(value).__name__
