"""Durations as people type them (``30m``, ``12h``, ``1d12h``): one grammar for every setting.

A policy's SLA, ``runs --since``, ``users token --expires`` and ``serve --sign-in-window`` all
take a duration. They differ only in the units they accept and the range they allow, so each
caller names its units here and words its own refusal (its code and fix); the grammar itself,
whole numbers each followed by a unit letter, case and spaces aside, is written once.
"""

from __future__ import annotations

import re
from typing import Literal

__all__ = ["UNIT_SECONDS", "Unit", "parse_duration"]

Unit = Literal["w", "d", "h", "m", "s"]
"""A duration's unit letter.

- ``w``: weeks (7 days)
- ``d``: days (24 hours)
- ``h``: hours
- ``m``: minutes (never months)
- ``s``: seconds
"""

# keyed by Unit
UNIT_SECONDS: dict[str, int] = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}


def parse_duration(
    text: str, *, units: str = "wdhms", compound: bool = False, max_digits: int | None = None
) -> int | None:
    """Seconds in `text`, written as a whole number and one of `units` (``12h``), or several
    such parts when `compound` (``1d12h``); None when `text` is not such a duration. Zero is a
    duration: a caller that needs a positive one says so in its own words. `max_digits` bounds
    each number, for callers that turn the result into a date (which has an end)."""
    if not units or set(units) - set(UNIT_SECONDS):
        raise ValueError(f"unknown duration units {units!r}")
    number = r"\d+" if max_digits is None else rf"\d{{1,{max_digits}}}"
    part = rf"({number})\s*([{units}])"
    value = text.strip().lower()
    if not re.fullmatch(rf"(?:{part}\s*)+" if compound else part, value):
        return None
    return sum(int(n) * UNIT_SECONDS[u] for n, u in re.findall(part, value))
