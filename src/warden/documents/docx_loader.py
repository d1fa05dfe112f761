"""DOCX: body paragraphs and tables in document order; Heading styles form the heading path.

The zip directory is checked for bombs before python-docx opens the package, because
python-docx reads every part into memory.
"""

from __future__ import annotations

import io
import re
import zipfile
from typing import TYPE_CHECKING, Any

from warden.documents.blocks import Block, Extracted, squash
from warden.documents.errors import DocumentCorrupt, DocumentTooLarge
from warden.documents.layout import is_title_like
from warden.documents.ziplimits import check_zip

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["MAX_BODY_XML", "MAX_PARAGRAPHS", "read_docx"]

MAX_BODY_XML = 32 * 2**20
"""lxml holds about ten bytes of memory per byte of XML, and the zip limits allow 200 MB."""
MAX_PARAGRAPHS = 50_000
"""python-docx spends ~0.25 ms reading a paragraph; a 500-page document has ~15,000."""

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
    """One line per row, cells joined by ' | ', merged cells counted once.

    A vertically merged cell repeats the text of the cell that starts the merge, as python-docx's
    `row.cells` does; that walk is done here from a map of the row above, because `row.cells`
    yields a spanned cell once per grid column (gridSpan 2,000,000,000 never ends), finds each
    cell above with an XPath query per row (quadratic, then RecursionError, on long merges) and
    fails on a merge that continues from no row.
    """
    from docx.table import _Cell

    above: dict[int, Any] = {}
    for tr in table._tbl.tr_lst:
        here: dict[int, Any] = {}
        seen: set[int] = set()
        cells: list[str] = []
        offset = tr.grid_before
        for tc in tr.tc_lst:
            root = above.get(offset, tc) if tc.vMerge == "continue" else tc
            here[offset] = root
            offset += tc.grid_span
            if id(root) in seen:
                continue
            seen.add(id(root))
            text = squash(_Cell(root, table).text)
            if text:
                cells.append(text)
        above = here
        if cells:
            yield " | ".join(cells)


def read_docx(data: bytes, *, source: str, max_bytes: int) -> Extracted:
    """Read a DOCX after checking the zip directory; core title or first Title/Heading 1."""
    check_zip(data, source=source, max_bytes=max_bytes)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        body_xml = zf.getinfo("word/document.xml").file_size
    if body_xml > MAX_BODY_XML:
        raise DocumentTooLarge(
            f"the document body is {body_xml:,} bytes of XML (limit {MAX_BODY_XML:,})", source=source
        )
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(io.BytesIO(data))
    except (KeyError, ValueError) as exc:
        raise DocumentCorrupt(f"the Word package is incomplete ({exc})", source=source) from exc
    blocks: list[Block] = []
    title = (document.core_properties.title or "").strip() or None
    # Resolving a style searches styles.xml (often 1,000+ styles) by XPath, ~3 ms a paragraph:
    # 40,000 paragraphs took two minutes. The level depends only on the style id, so once each.
    levels: dict[str | None, int | None] = {}
    items = list(_body_items(document.element.body))
    if len(items) > MAX_PARAGRAPHS:
        raise DocumentTooLarge(
            f"the document has {len(items):,} paragraphs and tables (limit {MAX_PARAGRAPHS:,})", source=source
        )
    for el in items:
        if el.tag == f"{_W}tbl":
            table = Table(el, document)
            blocks.extend(Block("para", row) for row in _table_rows(table))
            continue
        paragraph = Paragraph(el, document)
        text = squash(paragraph.text)
        if not text:
            continue
        style_id = paragraph._p.style
        if style_id not in levels:
            levels[style_id] = _style_level(paragraph)
        level = levels[style_id]
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
