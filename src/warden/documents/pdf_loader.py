"""PDF: text page by page with pypdf, keeping page numbers, font sizes and vertical gaps.

pypdf's visitor reports each text run with its matrices while extracting; the runs concatenate
to exactly the extracted text, so each output line gets the position and size of its runs.
Larger-than-body lines become headings; bigger-than-usual vertical gaps end paragraphs.
Page numbers and running headers/footers repeated on most pages are dropped as chrome.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import logging
import math
import re
import statistics
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from warden.documents.blocks import Extracted
from warden.documents.errors import (
    DocumentCorrupt,
    DocumentEmpty,
    DocumentEncrypted,
    DocumentImageOnly,
    DocumentTooComplex,
    DocumentTooManyPages,
)
from warden.documents.layout import Line, lines_to_blocks

__all__ = ["read_pdf"]

_PAGE_NUMBER = re.compile(r"^(?:page\s+)?[-–]?\s*\d{1,4}\s*[-–]?(?:\s*(?:of|/)\s*\d{1,4})?$", re.I)
_DIGITS = re.compile(r"\d+")
_GAP_FACTOR = 1.35
"""A line further below its predecessor than this many typical line pitches starts a paragraph."""
WORK_FLOOR = 100_000
WORK_PER_BYTE = 20
"""Work limit for drawing a PDF's text, in units of about 10-40 us of pypdf time:
WORK_FLOOR + WORK_PER_BYTE x the file size. A text-showing operator costs 8 units, drawing a
form 50, any other operator 1. Word-processor PDFs measure 0.1-0.3 units per byte, Chromium's
print-to-PDF 4-6 (it places justified or letter-spaced glyphs one by one); a few hundred bytes
that repeat a text run or a form thousands of times would keep pypdf busy for minutes."""
_COSTS = {b"Tj": 8, b"TJ": 8, b"'": 8, b'"': 8, b"Do": 50}


class _OverBudget(BaseException):
    """Raised from pypdf's callback; a BaseException because pypdf logs and skips an Exception
    raised while it reads a form XObject, and would carry on with the next one."""


@dataclass(slots=True)
class _RawLine:
    text: str = ""
    y: float | None = None
    size: float | None = None
    bold: bool = False
    weights: Counter[tuple[float, bool]] = field(default_factory=Counter)


@contextlib.contextmanager
def _quiet_pypdf() -> Iterator[None]:
    """pypdf logs every tolerated defect, some at ERROR (an unknown font encoding prints its whole
    256-entry table); the loader reports what matters as errors."""
    logger = logging.getLogger("pypdf")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _mul(a: list[float], b: list[float]) -> list[float]:
    return [
        a[0] * b[0] + a[1] * b[2],
        a[0] * b[1] + a[1] * b[3],
        a[2] * b[0] + a[3] * b[2],
        a[2] * b[1] + a[3] * b[3],
        a[4] * b[0] + a[5] * b[2] + b[4],
        a[4] * b[1] + a[5] * b[3] + b[5],
    ]


def _page_lines(page: Any, budget: list[int]) -> list[_RawLine]:
    """Extract one page's text as lines annotated with baseline y, font size and boldness.

    `budget` holds the work left for the whole document; it runs down as pypdf works.
    """
    lines: list[_RawLine] = [_RawLine()]

    def spend(operator: bytes, *_: Any) -> None:
        budget[0] -= _COSTS.get(operator, 1)
        if budget[0] < 0:
            raise _OverBudget

    def visit(text: str, cm: Any, tm: Any, font: Any, size: float) -> None:
        chunks = text.split("\n")
        for n, chunk in enumerate(chunks):
            if n:
                lines.append(_RawLine())
            if not chunk:
                continue
            line = lines[-1]
            line.text += chunk
            if not chunk.strip():
                continue
            try:
                m = _mul([float(v) for v in tm], [float(v) for v in cm])
                eff = float(size) * math.hypot(m[2], m[3])
                y = m[5]
            except (TypeError, ValueError, IndexError):
                eff, y = 0.0, None
            base = str((font or {}).get("/BaseFont", "")) if hasattr(font, "get") else ""
            bold = any(w in base for w in ("Bold", "Black", "Heavy", "Semibold"))
            if line.y is None and y is not None and eff > 0:
                line.y = y
            if eff > 0:
                line.weights[(round(eff * 2) / 2, bold)] += len(chunk.strip())

    page.extract_text(visitor_text=visit, visitor_operand_before=spend)
    for line in lines:
        if line.weights:
            (line.size, _), _ = line.weights.most_common(1)[0]
            line.bold = all(b for (_, b) in line.weights)
    return [ln for ln in lines if ln.text.strip()]


def _chrome(pages: list[list[_RawLine]]) -> set[str]:
    """Texts (digits masked) that open or close most pages: running headers and footers."""
    if len(pages) < 3:
        return set()
    edges: Counter[str] = Counter()
    for lines in pages:
        keys = {_DIGITS.sub("#", ln.text.strip()) for ln in lines[:2] + lines[-2:]}
        edges.update(keys)
    return {k for k, n in edges.items() if n >= 0.6 * len(pages)}


def _to_lines(pages: list[list[_RawLine]]) -> list[Line]:
    chrome = _chrome(pages)
    pitches = [
        a.y - b.y
        for lines in pages
        for a, b in itertools.pairwise(lines)
        if a.y is not None and b.y is not None and a.y - b.y > 0
    ]
    pitch = statistics.median(pitches) if pitches else None
    out: list[Line] = []
    for number, lines in enumerate(pages, 1):
        prev: _RawLine | None = None
        for ln in lines:
            text = ln.text.strip()
            if _PAGE_NUMBER.match(text) or _DIGITS.sub("#", text) in chrome:
                continue
            gap = prev is None
            if prev is not None and pitch and prev.y is not None and ln.y is not None:
                drop = prev.y - ln.y
                gap = drop < 0 or drop > _GAP_FACTOR * pitch
            out.append(Line(text, page=number, gap_before=gap, size=ln.size, bold=ln.bold))
            prev = ln
    return out


def read_pdf(data: bytes, *, source: str, max_pages: int) -> Extracted:
    """Read a PDF, refusing encrypted, truncated, over-long and text-less files."""
    if b"%%EOF" not in data[-2048:]:
        raise DocumentCorrupt(
            "the PDF has no end-of-file marker, so it is truncated or damaged", source=source
        )
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError, PdfReadError

    with _quiet_pypdf():
        try:
            reader = PdfReader(io.BytesIO(data), strict=False)
            if reader.is_encrypted:
                try:
                    opened = reader.decrypt("")
                except (DependencyError, NotImplementedError) as exc:
                    raise DocumentEncrypted(
                        f"the PDF is encrypted with a scheme this install cannot open ({exc})",
                        source=source,
                    ) from exc
                if not opened:
                    raise DocumentEncrypted("the PDF is protected by a password", source=source)
            count = len(reader.pages)
        except FileNotDecryptedError as exc:
            raise DocumentEncrypted("the PDF is protected by a password", source=source) from exc
        except PdfReadError as exc:
            raise DocumentCorrupt(f"the PDF structure is damaged ({exc})", source=source) from exc
        if count > max_pages:
            raise DocumentTooManyPages(f"the PDF has {count} pages (limit {max_pages})", source=source)
        pages: list[list[_RawLine]] = []
        limit = WORK_FLOOR + WORK_PER_BYTE * len(data)
        budget = [limit]
        for number, page in enumerate(reader.pages, 1):
            try:
                pages.append(_page_lines(page, budget))
            except PdfReadError as exc:
                raise DocumentCorrupt(f"page {number} cannot be read ({exc})", source=source) from exc
            except _OverBudget:
                raise DocumentTooComplex(
                    f"by page {number}, drawing the text costs over {limit:,} work units, far more "
                    f"than a {len(data):,}-byte PDF needs (text or forms repeated to stall readers)",
                    source=source,
                    fix="Print the PDF to a new PDF, or export its text, and upload that.",
                ) from None
        title = None
        with contextlib.suppress(Exception):
            meta = reader.metadata
            title = str(meta.title).strip() if meta and meta.title else None
    if count == 0:
        raise DocumentEmpty("the PDF has no pages", source=source)
    if not any(pages):
        raise DocumentImageOnly(
            f"none of the {count} pages has a text layer (a scan or images only)", source=source
        )
    blocks = lines_to_blocks(_to_lines(pages))
    if title is None:
        title = next((b.text for b in blocks if b.kind == "heading"), None)
    return Extracted(blocks=blocks, title=title, pages=count)
