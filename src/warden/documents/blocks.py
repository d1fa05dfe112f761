"""The format-neutral shape every loader produces: headings and paragraphs in reading order."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Block", "Extracted"]


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
