"""Text from the student's side made safe to keep: valid Unicode (no lone surrogates, which no UTF-8 file can
hold) and a bounded length, cut with a note of how much went. Escaping for a format is the report's job."""

from __future__ import annotations

import re

_SURROGATE = re.compile("[\ud800-\udfff]")


def clean(text: str, limit: int) -> str:
    """``text`` with lone surrogates shown as U+FFFD, cut to at most ``limit`` characters, the note included."""
    return cut(_SURROGATE.sub("\ufffd", text[: limit + 1]), limit, len(text))


def cut(text: str, limit: int, length: int | None = None) -> str:
    """``text`` (``length`` characters long at first, if it was longer) within ``limit`` characters: past it, the
    start and a note "... (N characters cut)"."""
    length = len(text) if length is None else length
    if length <= limit:
        return text
    kept = max(0, limit - 40)
    return text[:kept] + f" ... ({length - kept} characters cut)"[: limit - kept]
