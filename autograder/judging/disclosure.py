"""The feedback policy, in one place: what a hidden test's feedback may say, and what it never says.

A hidden test's feedback may name what was asked in the student's terms (the call, the shapes and dtypes of its
inputs), what came back (its type, shape, dtype, a short summary of its values, one value where it is wrong), and
what to try. It never holds a hidden input's values, nor a reference value, unless the stub's own text states that
value (the notebook's examples): a grader marks such a value ``stated`` where it checks it. A reference is kept
apart from the message (``Mismatch.reference``) and shown only at the ``open`` level, which a course chooses for
feedback released after the deadline (``FEEDBACK_LEVELS``).

What the student's code raised is its own text, but that code saw the hidden inputs: ``student_message`` shows it
with every tensor, array, float and list of numbers in it replaced, so an answer that raises its arguments learns
nothing. ``Ledger`` lets a test hold the graders to this: while one is open, every value the graders keep back is
recorded, and ``Ledger.leaks`` finds any of them in a text.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

FEEDBACK_LEVELS = ("hidden", "open")
"""``hidden``: never a reference value (while students may resubmit); ``open``: each failed test also says what the
reference is (for feedback released after the deadline)."""

MESSAGE_CHARS = 300
"""What the student's code raised, as its test's feedback shows it."""

_CONTAINER = re.compile(r"\b(?:Parameter containing:\s*)?(tensor|array)\(")
_FLOAT = re.compile(r"(?<![\w.])[-+]?(?:\d+\.\d*|\.\d+|\d+(?=[eE]))(?:[eE][-+]?\d+)?(?![\w.])|\b(?:nan|inf)\b")
_NUMBER_LIST = re.compile(r"(?<!Size\()\[\s*[-+]?\d+(?:\s*,\s*[-+]?\d+){2,}\s*,?\s*\]")
_NUMBER_RUN = re.compile(r"[\[\s,]*<number>(?:[\s,\[\]]+<number>)+[\s,\]]*")
_NUMBER_TOKEN = re.compile(r"[-+]?(?:\d+\.\d+|\d+\.|\.\d+|\d+)(?:[eE][-+]?\d+)?")


def student_message(message: str) -> str:
    """What the student's code raised, cut, with the values of tensors, arrays, floats and lists of numbers
    replaced: shapes, sizes, indices and words stay (``mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)``)."""
    text = _without_containers(message[: MESSAGE_CHARS * 20])
    text = _NUMBER_LIST.sub("[...]", _FLOAT.sub("<number>", text))
    text = _NUMBER_RUN.sub(" [...] ", text).strip()
    if len(text) > MESSAGE_CHARS:
        text = text[: MESSAGE_CHARS - 20] + " ... (message cut)"
    return text


def summary(value: Any, limit: int = 60) -> str:
    """A returned value as feedback shows it: its repr where short, else its type and size."""
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a student's object whose __repr__ fails is still a value that came back
        text = f"<{type(value).__name__}>"
    if len(text) <= limit:
        return text
    size = f" of {len(value)} items" if isinstance(value, (list, tuple, dict, str)) else ""
    return f"a {type(value).__name__}{size}"


def _without_containers(text: str) -> str:
    """``tensor([...])``, ``array(...)`` and ``Parameter containing: tensor(...)`` with their values left out."""
    out, position = [], 0
    for match in _CONTAINER.finditer(text):
        if match.start() < position:
            continue
        depth, end = 1, match.end()
        while depth and end < len(text):
            depth += {"(": 1, ")": -1}.get(text[end], 0)
            end += 1
        out += [text[position : match.start()], f"{match.group(1)}(<values not shown>)"]
        position = end
    out.append(text[position:])
    return "".join(out)


class Ledger:
    """The values graders kept back (references, hidden inputs), the values the student's code returned (which
    feedback may show), and those the stub states, recorded while the ledger is open (``watching``)."""

    def __init__(self) -> None:
        self._withheld: list[np.ndarray] = []
        self._allowed: list[np.ndarray] = []

    def withhold(self, value: Any) -> None:
        self._withheld.append(_floats(value))

    def allow(self, value: Any) -> None:
        self._allowed.append(_floats(value))

    def leaks(self, text: str) -> list[str]:
        """Numbers in ``text`` written with a point or an exponent, of three or more significant digits, that match
        a withheld value (to the digits written) and no value the student's code returned or the stub states."""
        withheld = np.sort(np.concatenate([np.zeros(0), *self._withheld]))
        allowed = np.sort(np.concatenate([np.zeros(0), *self._allowed]))
        found = []
        for token in _NUMBER_TOKEN.findall(text):
            number, half_step = _number(token)
            if number is None or _significant(token) < 3 or not any(c in token for c in ".eE"):
                continue
            if _near(withheld, number, half_step) and not _near(allowed, number, half_step):
                found.append(token)
        return found


_LEDGER: list[Ledger] = []


@contextmanager
def watching() -> Iterator[Ledger]:
    """A ledger that records, until the block ends, what the graders withhold and what may be shown."""
    ledger = Ledger()
    _LEDGER.append(ledger)
    try:
        yield ledger
    finally:
        _LEDGER.remove(ledger)


def withhold(value: Any) -> None:
    """A value feedback must not show: a reference, or an input the grader sent."""
    for ledger in _LEDGER:
        ledger.withhold(value)


def allow(value: Any) -> None:
    """A value feedback may show: what the student's code returned, or what the stub's text states."""
    for ledger in _LEDGER:
        ledger.allow(value)


def expected(value: Any, stated: bool) -> None:
    """A check's expected value: one the stub states may be shown, any other is a reference, withheld."""
    (allow if stated else withhold)(value)


def _floats(value: Any, limit: int = 50_000) -> np.ndarray:
    """The non-integer finite numbers in ``value`` (a tensor, an array, a number, nested lists), as float64."""
    import torch  # noqa: PLC0415 - the policy's rules above need no torch

    found: list[np.ndarray] = []

    def visit(item: Any) -> None:
        if isinstance(item, torch.Tensor):
            if item.device.type != "meta" and (item.is_floating_point() or item.is_complex()):
                found.append(item.detach().reshape(-1)[:limit].to("cpu", torch.float64).numpy())
        elif isinstance(item, np.ndarray):
            if item.dtype.kind in "fc":
                found.append(item.reshape(-1)[:limit].real.astype(np.float64))
        elif isinstance(item, float):
            found.append(np.array([item]))
        elif isinstance(item, (list, tuple)):
            for element in item[:limit]:
                visit(element)
        elif isinstance(item, dict):
            for element in item.values():
                visit(element)

    visit(value)
    values = np.concatenate([np.zeros(0), *found])
    return values[np.isfinite(values) & (values != np.round(values))]


def _number(token: str) -> tuple[float | None, float]:
    """The token's value and half a step of its last written digit (``0.532`` -> 0.0005)."""
    try:
        number = float(token)
    except ValueError:
        return None, 0.0
    mantissa, _, exponent = token.lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    return number, 0.5 * 10.0 ** (int(exponent or 0) - decimals)


def _significant(token: str) -> int:
    mantissa = token.lower().partition("e")[0].lstrip("+-").replace(".", "").lstrip("0")
    return len(mantissa)


def _near(values: np.ndarray, number: float, half_step: float) -> bool:
    if not values.size or math.isnan(number):
        return False
    for candidate in (number, -number):
        index = int(np.searchsorted(values, candidate - half_step))
        if index < values.size and values[index] <= candidate + half_step:
            return True
    return False
