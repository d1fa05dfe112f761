"""Tells a title-like passage from a sentence or list item, from its words alone.

Headings name a topic ("Data Retention") without disclosing it, and the headings a passage
sits under describe the section it belongs to; so rules treat the two shapes differently.
"""

from __future__ import annotations

import re

__all__ = ["ends_as_lead_in", "is_heading_like", "is_list_item"]

_NUMBERED = re.compile(
    r"^\s*(?:#+\s*|\*\*|(?:section|article|part|chapter)\s+\w+|[0-9]+(?:\.[0-9]+)*\.?\s|[IVX]+\.\s|[A-Z]\.\s)",
    re.IGNORECASE,
)
_LIST_MARK = re.compile(r"^\s*(?:[-•·*▪●◦–]\s|\(?[a-z0-9]{1,3}\)\s|[a-z]\.\s)")
_NOT_TITLE = re.compile(r"@|https?:|www\.|\S\s*:\s*\S|(?<!^)(?<![\d.])\d{3,}|\(\+?\d")
_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*")
_SMALL = frozenset(
    [
        "a",
        "an",
        "and",
        "as",
        "at",
        "by",
        "for",
        "from",
        "in",
        "of",
        "on",
        "or",
        "the",
        "to",
        "with",
        "your",
        "our",
        "we",
        "you",
        "how",
        "what",
        "why",
        "who",
        "when",
        "where",
        "do",
        "does",
        "is",
        "are",
        "this",
        "these",
    ]
)


def is_heading_like(text: str) -> bool:
    """Short, unterminated and title-cased, upper-cased or numbered like a section title."""
    stripped = text.strip().strip("*#_ ").strip()
    if not stripped or len(stripped) > 90 or stripped[-1] in ".;,!":
        return False
    if _LIST_MARK.match(text) and not _NUMBERED.match(text):
        return False
    if _NOT_TITLE.search(stripped):  # addresses, phone numbers, "Label: value" lines
        return False
    words = _WORD.findall(stripped)
    if not words or len(words) > 12:
        return False
    if stripped.endswith("?") or _NUMBERED.match(text) or stripped.isupper():
        return True
    content = [w for w in words if w.lower() not in _SMALL]
    if not content:
        return False
    capitalised = sum(1 for w in content if w[0].isupper())
    return capitalised / len(content) >= 0.75 and (len(content) > 1 or len(words) <= 3)


def is_list_item(text: str) -> bool:
    """Starts with a bullet or an enumerator such as '(a)' or '2)'."""
    return bool(_LIST_MARK.match(text))


def ends_as_lead_in(text: str) -> bool:
    """A sentence that introduces a list ("We collect the following:")."""
    return text.rstrip().endswith(":")
