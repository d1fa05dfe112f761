"""Recover headings and paragraphs from lines, for formats without markup (text and PDF).

A line is a heading when its font is larger than the body text (PDF), or, without font
information, when it is short, title-like and stands on its own. Wrapped lines are joined
into paragraphs; a paragraph ends at a blank line or vertical gap, before a bullet, or after a
short line that ends a sentence.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass

from warden.documents.blocks import Block, squash

__all__ = ["Line", "is_title_like", "lines_to_blocks"]

_NUMBERED = re.compile(r"^(?:(?:section|part|article|chapter)\s+)?(\d{1,2}(?:\.\d{1,2})*+)[.):]?\s+\S", re.I)
"""Possessive (*+) so a long line of '1.1.1...' costs no backtracking entry per repetition."""
_BULLET = re.compile(r"^(?:[•◦▪‣●○■·\-–*]|\(?[a-z]\)|\(?[ivx]{1,4}\)|\d{1,2}[.)])\s+", re.I)
_NOT_HEADING = re.compile(r"@|https?://|www\.|\b(?:19|20)\d\d\b|\s{3,}")
_SMALL_WORDS = {"a", "an", "and", "as", "at", "by", "for", "in", "of", "on", "or", "the", "to", "we"}
MAX_HEADING_CHARS = 90
MAX_HEADING_WORDS = 12


@dataclass(slots=True)
class Line:
    """One visual line, with what its source knows about the layout around it."""

    text: str
    page: int | None = None
    gap_before: bool = False
    """A blank line, a larger vertical gap or a page start precedes this line."""
    size: float | None = None
    bold: bool = False
    level: int | None = None
    """Set when the source marks the line as a heading explicitly (setext underline)."""


def is_title_like(text: str) -> bool:
    """Short, capitalised, not a sentence: the shape of a heading."""
    text = text.strip()
    words = text.split()
    if not (2 <= len(text) <= MAX_HEADING_CHARS) or len(words) > MAX_HEADING_WORDS:
        return False
    if text[-1] in ".,;" or _NOT_HEADING.search(text) or (not text[0].isupper() and not text[0].isdigit()):
        return False
    return not _BULLET.match(text) or bool(_NUMBERED.match(text))


def _strong_title(text: str) -> bool:
    """Numbered, ALL CAPS or Title Case: a heading even without space around it."""
    if _NUMBERED.match(text):
        return True
    letters = [c for c in text if c.isalpha()]
    if len(letters) >= 3 and all(c.isupper() for c in letters):
        return True
    long_words = [w for w in re.findall(r"[A-Za-z][\w'’-]*", text) if w.lower() not in _SMALL_WORDS]
    return len(long_words) >= 2 and all(w[0].isupper() for w in long_words)


def _number_level(text: str) -> int | None:
    m = _NUMBERED.match(text)
    return m.group(1).count(".") + 2 if m else None


def lines_to_blocks(lines: list[Line]) -> list[Block]:
    """Group lines into heading and paragraph blocks, in order."""
    lines = [ln for ln in lines if ln.text.strip()]
    if not lines:
        return []
    body_size = _body_size(lines)
    heading_sizes = sorted(
        {round(ln.size * 2) / 2 for ln in lines if ln.size is not None and _is_big(ln, body_size)},
        reverse=True,
    )
    width = _typical_width(lines)
    blocks: list[Block] = []
    para: list[str] = []
    para_page: int | None = None

    def flush() -> None:
        nonlocal para
        if para:
            blocks.append(Block("para", _join(para), page=para_page))
        para = []

    for i, ln in enumerate(lines):
        text = squash(ln.text)
        nxt = lines[i + 1] if i + 1 < len(lines) else None
        level = _heading_level(ln, text, nxt, body_size, heading_sizes, bool(blocks or para))
        after_heading = not para and bool(blocks) and blocks[-1].kind == "heading"
        subtitle = after_heading and ln.size is None and nxt is not None and nxt.gap_before
        if level is None and subtitle and is_title_like(text) and _strong_title(text):
            level = blocks[-1].level + 1  # a two-line title: the second line is a subtitle
        if level is not None:
            flush()
            blocks.append(Block("heading", text, level=level, page=ln.page))
            continue
        prev = para[-1] if para else None
        continues = prev is not None and prev[-1] not in ".!?:" and text[:1].islower()
        breaks = (
            (ln.gap_before and not (ln.page != para_page and continues))
            or (ln.page != para_page and not continues)
            or bool(_BULLET.match(text))
            or (prev is not None and prev[-1] in ".!?:" and len(prev) < 0.75 * width)
        )
        if breaks:
            flush()
        if not para:
            para_page = ln.page
        para.append(text)
    flush()
    return blocks


def _heading_level(
    ln: Line,
    text: str,
    nxt: Line | None,
    body_size: float | None,
    heading_sizes: list[float],
    started: bool,
) -> int | None:
    if ln.level is not None:
        return ln.level
    if nxt is None:
        return None
    if body_size is not None and ln.size is not None:
        if _is_big(ln, body_size) and len(text) <= 150:
            return heading_sizes.index(round(ln.size * 2) / 2) + 1
        if ln.bold and is_title_like(text) and not (nxt.bold and not nxt.gap_before):
            return len(heading_sizes) + 1
        return None
    if not is_title_like(text):
        return None
    standalone = ln.gap_before and nxt.gap_before
    if not (standalone or (ln.gap_before and _strong_title(text))):
        return None
    number = _number_level(text)
    if number is not None:
        return number
    return 2 if started else 1  # the first block of all, when title-like, is the title


def _is_big(ln: Line, body_size: float | None) -> bool:
    return body_size is not None and ln.size is not None and ln.size >= body_size * 1.12


def _body_size(lines: list[Line]) -> float | None:
    """The font size carrying most characters: the body text."""
    weights: dict[float, int] = {}
    for ln in lines:
        if ln.size:
            key = round(ln.size * 2) / 2
            weights[key] = weights.get(key, 0) + len(ln.text)
    return max(weights, key=weights.__getitem__) if weights else None


def _typical_width(lines: list[Line]) -> int:
    """The length of a full wrapped line (90th percentile), so short last lines stand out."""
    lengths = sorted(len(ln.text.strip()) for ln in lines)
    if len(lengths) < 2:
        return lengths[0] if lengths else 0
    return int(statistics.quantiles(lengths, n=10)[-1])


def _join(parts: list[str]) -> str:
    """Join wrapped lines, undoing end-of-line hyphenation of lower-case words."""
    out = parts[0]
    for part in parts[1:]:
        if out.endswith("-") and len(out) > 1 and out[-2].isalpha() and part[:1].islower():
            out = out[:-1] + part
        else:
            out += " " + part
    return out
