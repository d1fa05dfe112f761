"""Quotes a reviewer can read: the whole sentence behind a label, without table or markup debris.

Two helpers, both pure text:

- ``sentence_span``: widens a rule's match (often a fragment such as "be processed for") to the
  sentence that holds it. A sentence ends at ``.``, ``!`` or ``?`` followed by a space, at a line
  break, at a table cell border (``|``) or at a tag (``<br>``, ``<td>``, ...), so the span never
  holds a pipe or a tag, and the quote stays ``text[start:end]`` (evidence offsets stay valid).
- ``clean_quote``: a free-standing quote of a passage for a finding: table rules and pipes,
  html tags and entities and runs of white space removed, and cut at a word boundary (with
  " …") when it is longer than the limit, never inside a word.
"""

from __future__ import annotations

import html
import re

__all__ = ["clean_quote", "sentence_span"]

_HARD = re.compile(r"\n|\r|\||<[^<>\n]{0,200}>")
"""Boundaries no quote crosses: line breaks, table cell borders, html tags."""

_END = re.compile(r"""[.!?]["'”’)\]]*(?=\s)""")
"""The end of a sentence: its final mark (and any closing quote or bracket) before a space."""

_ABBREVIATION = re.compile(
    r"(?:\b(?:e\.g|i\.e|etc|inc|ltd|co|corp|no|art|para|sec|mr|mrs|ms|dr|st|vs|cf|approx|incl)|\b[A-Za-z])\.$",
    re.IGNORECASE,
)
"""A full stop that ends an abbreviation or an initial, not a sentence ("e.g.", "Acme Inc.")."""

_EDGE = " \t\u00a0*#>•·-–—_=:;,"
"""Characters trimmed from both ends of a sentence span (bullets, markdown, separators)."""


def sentence_span(text: str, start: int, end: int) -> tuple[int, int]:
    """The sentence of ``text`` that holds ``text[start:end]``, as offsets into ``text``.

    The match is inside the result, but for a match read across a table cell border or a line
    break, whose last cell or line is kept (it names what the rule was looking for: "... | name,
    email address"). A match across a sentence end gets every sentence it touches."""
    lo, hi = 0, len(text)
    for hard in _HARD.finditer(text):
        if hard.end() <= start:
            lo = hard.end()
        elif hard.start() >= end:
            hi = hard.start()
            break
        else:  # a match read across a cell border or line: keep the part its end is in
            lo = start = min(hard.end(), end)
    for mark in _END.finditer(text, lo, hi):
        if _ABBREVIATION.search(text, max(lo, mark.start() - 8), mark.start() + 1):
            continue
        if mark.end() <= start:
            lo = mark.end()
        elif mark.end() >= end:
            hi = mark.end()
            break
    while lo < start and text[lo] in _EDGE:
        lo += 1
    while lo < end - 1 and text[lo].isspace():  # a match that began with the space after a border
        lo += 1
    while hi > end and text[hi - 1] in _EDGE.replace(":", "").replace(";", ""):
        hi -= 1
    return lo, hi


_TABLE_RULE = re.compile(r"\|?\s*:?-{3,}:?\s*(?:\|\s*:?-{3,}:?\s*)*\|?")
_TAG = re.compile(r"<[^<>]{0,200}>")
_CELL = re.compile(r"\s*(?:\|\s*)+")
_SPACE = re.compile(r"\s+")


def clean_quote(text: str, limit: int = 300) -> str:
    """``text`` as a readable quote of at most ``limit`` characters (plus " …" when cut).

    Table separator rows (``|---|---|``) and html tags go, cell borders become "; ", entities
    are decoded, white space is collapsed; a cut falls on a word boundary, never inside a word."""
    out = _TABLE_RULE.sub(" ", text)
    out = _TAG.sub(" ", out)
    out = html.unescape(out)
    out = _CELL.sub("; ", out)
    out = _SPACE.sub(" ", out).strip(" ;")
    if len(out) <= limit:
        return out
    cut = out.rfind(" ", 0, limit + 1)
    if cut <= 0:  # a single word (a URL) longer than the limit: nothing else to cut at
        cut = limit
    return out[:cut].rstrip(" ;,") + " …"
