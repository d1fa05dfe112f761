"""One piece of evidence a scanner found, and the line arithmetic every scanner shares."""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

__all__ = ["EVIDENCE_MAX", "Hit", "LineIndex"]

_NEWLINE = re.compile("\n")
EVIDENCE_MAX = 300
"""RecipientHit.evidence holds at most this many characters."""


@dataclass(frozen=True, slots=True)
class Hit:
    """A recipient (by canonical name) shown at one line of one file by one piece of evidence."""

    recipient: str
    line: int
    evidence: str

    def __post_init__(self) -> None:
        if len(self.evidence) > EVIDENCE_MAX:
            object.__setattr__(self, "evidence", self.evidence[: EVIDENCE_MAX - 1] + "…")


class LineIndex:
    """Maps character offsets of a text to 1-based line numbers (regex scanners report offsets)."""

    def __init__(self, text: str) -> None:
        self._starts = [0] + [m.end() for m in _NEWLINE.finditer(text)]

    def line(self, offset: int) -> int:
        return bisect.bisect_right(self._starts, offset)
