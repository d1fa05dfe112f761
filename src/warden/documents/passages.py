"""Turn blocks into the document text and its citable passages.

Headings become context, not passages. Tiny fragments (list items, one-line paragraphs) merge
with neighbours under the same heading and page so a passage is worth citing; paragraphs over
`MAX_CHARS` split at sentence boundaries so a passage stays quotable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from warden.documents.blocks import Block
from warden.schemas.document import Passage

__all__ = ["BLOCK_SEPARATOR", "MAX_CHARS", "MAX_PASSAGES", "MIN_CHARS", "build_passages", "split_sentences"]

BLOCK_SEPARATOR = "\n\n"
MAX_CHARS = 1500
MIN_CHARS = 80
"""A paragraph shorter than this is a fragment and merges with a neighbour."""
MAX_PASSAGES = 5_000
"""The longest real notices measured are a few hundred passages (the largest of the 136 dev
policies of GDPR-T-200 and OPP-115: 416 segments, 77 KB; the fixtures: 26), so 5,000 is ~12
times that. Each passage costs tens of KB through analysis and the approved steps (the guard,
labels, evidence, the run's state): just under the cap, 4,990 passages of ~1,450 characters
(7 MB) peak at 320 MB in `analyse` and 487 MB in `approve`, inside the 600 MB bound; 9,990 of
them peaked at 818 MB in `approve` (docs/RELIABILITY.md; `bench/bench_passage_cap.py`)."""

_SENTENCE_END = re.compile(r"[.!?;][\"'”’)\]]*\s+(?=[\"“‘(\[]?[A-Z0-9•\-–(])")


@dataclass(slots=True)
class _Span:
    start: int
    end: int
    headings: tuple[str, ...]
    page: int | None


def split_sentences(text: str, start: int, end: int, limit: int = MAX_CHARS) -> list[tuple[int, int]]:
    """Cut text[start:end] into spans of at most `limit` chars, preferring sentence ends."""
    spans: list[tuple[int, int]] = []
    while end - start > limit:
        window = text[start : start + limit]
        cut = 0
        for m in _SENTENCE_END.finditer(window):
            if m.start() > limit // 3:
                cut = m.start() + 1
        if not cut:
            cut = window.rfind(" ", limit // 2) + 1 or limit
        piece_end = start + cut
        while piece_end > start and text[piece_end - 1].isspace():
            piece_end -= 1
        spans.append((start, piece_end))
        start += cut
        while start < end and text[start].isspace():
            start += 1
    if end > start:
        spans.append((start, end))
    return spans


def build_passages(
    blocks: list[Block], doc_id: str, *, limit: int | None = None
) -> tuple[str, list[Passage]]:
    """Join blocks into the document text and cut passages whose offsets slice it exactly;
    past `limit` passages it stops (at limit + 1), so a caller refusing the document need not
    build them all first."""
    parts: list[str] = []
    pos = 0
    stack: list[tuple[int, str]] = []
    spans: list[_Span] = []
    for block in blocks:
        text = block.text.strip()
        if not text:
            continue
        if parts:
            parts.append(BLOCK_SEPARATOR)
            pos += len(BLOCK_SEPARATOR)
        parts.append(text)
        start, pos = pos, pos + len(text)
        if block.kind == "heading":
            while stack and stack[-1][0] >= block.level:
                stack.pop()
            stack.append((block.level, " ".join(text.split())))
            continue
        spans.append(_Span(start, pos, tuple(h for _, h in stack), block.page))
    full = "".join(parts)
    merged = _merge_fragments(spans)
    passages: list[Passage] = []
    for span in merged:
        if limit is not None and len(passages) > limit:
            break
        for s, e in split_sentences(full, span.start, span.end):
            passages.append(
                Passage(
                    id=f"{doc_id[:12]}#{len(passages)}",
                    index=len(passages),
                    text=full[s:e],
                    headings=list(span.headings),
                    page=span.page,
                    start=s,
                    end=e,
                )
            )
    return full, passages


def _merge_fragments(spans: list[_Span]) -> list[_Span]:
    """Merge neighbouring spans when one is a fragment and they share heading path and page."""
    out: list[_Span] = []
    for span in spans:
        if out:
            prev = out[-1]
            same_place = prev.headings == span.headings and prev.page == span.page
            tiny = min(prev.end - prev.start, span.end - span.start) < MIN_CHARS
            if same_place and tiny and span.end - prev.start <= MAX_CHARS:
                prev.end = span.end
                continue
        out.append(_Span(span.start, span.end, span.headings, span.page))
    return out
