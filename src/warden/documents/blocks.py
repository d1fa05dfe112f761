"""The format-neutral shape every loader produces: headings and paragraphs in reading order."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Block", "Extracted", "squash"]

_SPACE = re.compile(r"\s")
_CHUNK = 1 << 20


def squash(text: str) -> str:
    """`" ".join(text.split())`, a megabyte at a time: the word list costs ~60 bytes a word,
    which for a 50 MB paragraph would be over 500 MB at once."""
    if len(text) <= _CHUNK:
        return " ".join(text.split())
    parts: list[str] = []
    start = 0
    while start < len(text):
        cut = _SPACE.search(text, start + _CHUNK)  # cut at whitespace, never inside a word
        end = cut.start() if cut else len(text)
        if piece := " ".join(text[start:end].split()):
            parts.append(piece)
        start = end
    return " ".join(parts)


@dataclass(frozen=True, slots=True)
class Block:
    """One heading or paragraph; loaders emit these so splitting is written once."""

    kind: Literal["heading", "para"]
    text: str
    level: int = 0
    """Heading depth (1 outermost); ignored for paragraphs."""
    page: int | None = None


@dataclass(slots=True)
class Extracted:
    """A loader's result before it becomes a `Document`."""

    blocks: list[Block]
    title: str | None = None
    pages: int | None = None
    notes: list[str] = field(default_factory=list)
