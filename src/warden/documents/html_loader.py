"""HTML: page chrome (navigation, site header and footer, scripts, styles) is dropped and
h1-h6 become the heading path.

html.parser builds the tree iteratively, but its cost grows with nesting and other bs4 calls
recurse, so nesting depth and element count are measured with a regex scan before bs4 sees the
markup, and the tree is walked once, without recursion.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from warden.documents.blocks import Block, Extracted, squash
from warden.documents.decode import decode_text
from warden.documents.errors import DocumentTooComplex

if TYPE_CHECKING:
    from bs4 import Tag

__all__ = ["MAX_DEPTH", "MAX_ELEMENTS", "defuse_unclosed", "markup_shape", "nesting_depth", "read_html"]

MAX_DEPTH = 512
"""Real pages nest a few dozen elements deep; far beyond this is hostile or broken."""
MAX_ELEMENTS = 100_000
"""A long notice page has a few thousand elements; bs4 builds about 20,000 a second, so this
bounds parsing to seconds where a 50 MB page of tags would take minutes."""

_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9:-]*)[^<>]*?(/?)>")
"""Attributes may not hold '<', so a run of unclosed '<a ' is scanned once, not from every '<'."""
_COMMENT_OPEN = re.compile(r"<!--")
_COMMENT_CLOSE = re.compile(r"--\s*>")
_SECTION_OPEN = re.compile(r"<!\[([a-zA-Z][-_.a-zA-Z0-9]*)")
_SECTION_CLOSE = re.compile(r"]\s*]\s*>")
_CONDITIONAL_CLOSE = re.compile(r"]\s*>")
_CONDITIONALS = frozenset(("if", "else", "endif"))
_VOID = frozenset(
    {
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "param",
        "source",
        "track",
        "wbr",
    }
)
_SELF_CLOSING_SIBLINGS = frozenset(("p", "li", "dt", "dd", "tr", "td", "th", "option"))
_DROP = frozenset(
    {
        "script",
        "style",
        "noscript",
        "template",
        "nav",
        "svg",
        "iframe",
        "object",
        "canvas",
        "button",
        "select",
        "form",
        "dialog",
    }
)
_CHROME = frozenset({"header", "footer", "aside"})
_CHROME_ROLES = frozenset({"navigation", "banner", "contentinfo", "search", "complementary"})
_SECTIONING = frozenset({"article", "main", "section"})
_BLOCKS = frozenset(
    {
        "p",
        "div",
        "li",
        "dt",
        "dd",
        "blockquote",
        "pre",
        "address",
        "figcaption",
        "caption",
        "summary",
        "tr",
        "td",
        "th",
        "table",
        "ul",
        "ol",
        "dl",
        "section",
        "article",
        "main",
        "body",
        "html",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "footer",
        "details",
        "figure",
    }
)
_HEADINGS = {f"h{n}": n for n in range(1, 7)}


def markup_shape(
    markup: str, depth_limit: int = MAX_DEPTH, element_limit: int = MAX_ELEMENTS
) -> tuple[int, int]:
    """(approximate element depth, start tags) from tags alone; stops once past either limit."""
    stack: list[str] = []
    deepest = elements = 0
    for m in _TAG.finditer(markup):
        closing, name, self_closing = m.groups()
        name = name.lower()
        if not closing:
            elements += 1
            if elements > element_limit:
                break
        if name in _VOID or self_closing:
            continue
        if closing:
            for i in range(len(stack) - 1, max(len(stack) - 64, -1), -1):
                if stack[i] == name:
                    del stack[i:]
                    break
            continue
        if name in _SELF_CLOSING_SIBLINGS and stack and stack[-1] == name:
            stack.pop()
        stack.append(name)
        deepest = max(deepest, len(stack))
        if deepest > depth_limit:
            break
    return deepest, elements


def nesting_depth(markup: str, limit: int = MAX_DEPTH) -> int:
    """Approximate element depth from tags alone; stops counting once past `limit`."""
    return markup_shape(markup, depth_limit=limit)[0]


def _last_start(pattern: re.Pattern[str], markup: str) -> int:
    last = -1
    for m in pattern.finditer(markup):
        last = m.start()
    return last


def defuse_unclosed(markup: str) -> str:
    """Escape the '<' of comments, marked sections and tags that are never closed.

    html.parser (as in CPython 3.11.7) rescans to the end of the input for each such opener,
    which is quadratic in their number; it then reads the opener as text, which is also what
    '&lt;' reads as, so the parse is the same, in linear time.
    """
    tail = markup.rfind(">") + 1
    if "<" in markup[tail:]:
        markup = markup[:tail] + markup[tail:].replace("<", "&lt;")
    if "<!" not in markup:
        return markup
    comment_end = _last_start(_COMMENT_CLOSE, markup)
    section_end = _last_start(_SECTION_CLOSE, markup)
    conditional_end = _last_start(_CONDITIONAL_CLOSE, markup)
    spots: list[int] = [m.start() for m in _COMMENT_OPEN.finditer(markup) if m.start() + 4 > comment_end]
    for m in _SECTION_OPEN.finditer(markup):
        end = conditional_end if m.group(1).lower() in _CONDITIONALS else section_end
        if m.start() + 3 > end:
            spots.append(m.start())
    if not spots:
        return markup
    out: list[str] = []
    done = 0
    for at in sorted(spots):
        out += [markup[done:at], "&lt;"]
        done = at + 1
    return "".join([*out, markup[done:]])


def _dropped(tag: Tag, in_section: bool) -> bool:
    """Scripts, forms and the like; chrome roles, hidden elements; site header/footer/aside
    outside any article, main or section."""
    if tag.name in _DROP or tag.name in ("head", "title"):
        return True
    role = str(tag.get("role") or "").lower()
    if role in _CHROME_ROLES:
        return True
    if tag.get("hidden") is not None or str(tag.get("aria-hidden") or "").lower() == "true":
        return True
    return tag.name in _CHROME and not in_section


@dataclass(frozen=True, slots=True)
class _Context:
    """What a node inherits from its ancestors, carried down the walk instead of looked up."""

    block: Tag | None = None
    """The nearest block-level ancestor: text under it forms one paragraph."""
    cell: Tag | None = None
    row: Tag | None = None
    """The row holding `cell`: a table row reads as one paragraph of ' | '-joined cells."""
    open_row: Tag | None = None
    in_section: bool = False


def _enter(tag: Tag, ctx: _Context) -> _Context:
    name = tag.name
    block = tag if name in _BLOCKS else ctx.block
    cell, row, open_row = ctx.cell, ctx.row, ctx.open_row
    if name == "tr":
        open_row = tag
    elif name in ("td", "th"):
        cell, row = tag, open_row
    return _Context(block, cell, row, open_row, ctx.in_section or name in _SECTIONING)


def _text_nodes(soup: Tag) -> Iterator[tuple[str, Tag | None, Tag | None]]:
    """(text, paragraph owner, table cell) for each visible string, in document order.

    One iterative walk that skips dropped subtrees: bs4's parent lookups, decompose() and
    the `decomposed` check each rescan the tree, which is quadratic on big or deep pages.
    """
    from bs4.element import NavigableString, Tag

    stack: list[tuple[object, _Context]] = [(child, _Context()) for child in reversed(soup.contents)]
    while stack:
        node, ctx = stack.pop()
        if isinstance(node, Tag):
            if _dropped(node, ctx.in_section):
                continue
            if node.name == "br":
                node, inner = NavigableString("\n"), ctx
            else:
                inner = _enter(node, ctx)
                stack.extend((child, inner) for child in reversed(node.contents))
                continue
        if type(node) is not NavigableString:  # comments, CData, doctype, processing instructions
            continue
        owner = ctx.block
        if owner is not None and owner.name in ("td", "th") and ctx.cell is not None:
            owner = ctx.row or owner
        yield str(node), owner, ctx.cell


def read_html(data: bytes, *, source: str) -> Extracted:
    """Read HTML into heading and paragraph blocks; <title> or the first h1 is the title."""
    markup = defuse_unclosed(decode_text(data, source=source, html=True))
    depth, elements = markup_shape(markup)
    if depth > MAX_DEPTH:
        raise DocumentTooComplex(f"elements are nested more than {MAX_DEPTH} deep", source=source)
    if elements > MAX_ELEMENTS:
        raise DocumentTooComplex(f"the page has more than {MAX_ELEMENTS:,} elements", source=source)
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(markup, "html.parser")
    title_tag = soup.find("title")
    title = squash(title_tag.get_text(" ")) if title_tag else None

    blocks: list[Block] = []
    current: Tag | None = None
    cell: Tag | None = None
    pieces: list[str] = []

    def flush() -> None:
        if current is None:
            return
        text = "".join(pieces)
        lines = [squash(ln) for ln in text.split("\n")]
        text = "\n".join(ln for ln in lines if ln)
        if text:
            if current.name in _HEADINGS:
                blocks.append(Block("heading", squash(text), level=_HEADINGS[current.name]))
            else:
                blocks.append(Block("para", text))

    for text, owner, row_cell in _text_nodes(soup):
        if owner is not current:
            flush()
            current, pieces, cell = owner, [], row_cell
        elif row_cell is not cell:
            if "".join(pieces).strip():
                pieces.append(" | ")
            cell = row_cell
        pieces.append(text)
    flush()
    if title is None:
        title = next((b.text for b in blocks if b.kind == "heading" and b.level == 1), None)
    return Extracted(blocks=blocks, title=title)
