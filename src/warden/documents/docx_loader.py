"""DOCX: body paragraphs and tables in document order; Heading styles form the heading path.

The zip directory is checked for bombs before python-docx opens the package, because
python-docx reads every part into memory.
"""

from __future__ import annotations

import io
import re
from typing import TYPE_CHECKING, Any

from warden.documents.blocks import Block, Extracted
from warden.documents.errors import DocumentCorrupt
from warden.documents.layout import is_title_like
from warden.documents.ziplimits import check_zip

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["read_docx"]

_HEADING_STYLE = re.compile(r"^heading\s*([1-9])$", re.I)
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def _style_level(paragraph: Any) -> int | None:
    """Heading N -> N, Title -> 0; walks base styles so custom heading styles count."""
    style = paragraph.style
    for _ in range(10):
        if style is None:
            return None
        name = (style.name or "").strip()
        if name.lower() == "title":
            return 0
        if m := _HEADING_STYLE.match(name):
            return int(m.group(1))
        style = style.base_style
    return None


def _outline_level(paragraph: Any) -> int | None:
    """Direct w:outlineLvl formatting, which some exporters use instead of Heading styles."""
    ppr = paragraph._p.pPr
    if ppr is None:
        return None
    lvl = ppr.find(f"{_W}outlineLvl")
    if lvl is None:
        return None
    value = int(lvl.get(f"{_W}val", "9"))
    return value + 1 if value < 9 else None


def _all_bold(paragraph: Any) -> bool:
    runs = [r for r in paragraph.runs if r.text.strip()]
    return bool(runs) and all(r.bold for r in runs)


def _body_items(body: Any) -> Iterator[Any]:
    """Paragraph and table elements of the body in order, looking inside content controls."""
    stack = list(reversed(list(body.iterchildren())))
    while stack:
        el = stack.pop()
        if el.tag in (f"{_W}p", f"{_W}tbl"):
            yield el
        elif el.tag in (f"{_W}sdt", f"{_W}sdtContent", f"{_W}customXml"):
            stack.extend(reversed(list(el.iterchildren())))


def _table_rows(table: Any) -> Iterator[str]:
    """One line per row, cells joined by ' | ', merged cells counted once."""
    for row in table.rows:
        seen: set[int] = set()
        cells: list[str] = []
        for cell in row.cells:
            if id(cell._tc) in seen:
                continue
            seen.add(id(cell._tc))
            text = " ".join(cell.text.split())
            if text:
                cells.append(text)
        if cells:
            yield " | ".join(cells)


def read_docx(data: bytes, *, source: str, max_bytes: int) -> Extracted:
    """Read a DOCX after checking the zip directory; core title or first Title/Heading 1."""
    check_zip(data, source=source, max_bytes=max_bytes)
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(io.BytesIO(data))
    except (KeyError, ValueError) as exc:
        raise DocumentCorrupt(f"the Word package is incomplete ({exc})", source=source) from exc
    blocks: list[Block] = []
    title = (document.core_properties.title or "").strip() or None
    for el in _body_items(document.element.body):
        if el.tag == f"{_W}tbl":
            table = Table(el, document)
            blocks.extend(Block("para", row) for row in _table_rows(table))
            continue
        paragraph = Paragraph(el, document)
        text = " ".join(paragraph.text.split())
        if not text:
            continue
        level = _style_level(paragraph)
        if level is None:
            level = _outline_level(paragraph)
        if level is None and _all_bold(paragraph) and is_title_like(text):
            level = 7
        if level is not None:
            if level == 0:
                title = title or text
            blocks.append(Block("heading", text, level=max(level, 0)))
        else:
            blocks.append(Block("para", text))
    if title is None:
        title = next((b.text for b in blocks if b.kind == "heading" and b.level <= 1), None)
    return Extracted(blocks=blocks, title=title)
