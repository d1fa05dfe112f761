"""HTML: page chrome (navigation, site header and footer, scripts, styles) is dropped and
h1-h6 become the heading path.

html.parser builds the tree iteratively, but its cost grows with nesting and other bs4 calls
recurse, so nesting depth is measured with a regex scan before bs4 sees the markup, and the
tree is walked without recursion.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from warden.documents.blocks import Block, Extracted
from warden.documents.decode import decode_text
from warden.documents.errors import DocumentTooComplex

if TYPE_CHECKING:
    from bs4 import Tag

__all__ = ["MAX_DEPTH", "nesting_depth", "read_html"]

MAX_DEPTH = 512
"""Real pages nest a few dozen elements deep; far beyond this is hostile or broken."""

_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9:-]*)[^>]*?(/?)>")
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


def nesting_depth(markup: str, limit: int = MAX_DEPTH) -> int:
    """Approximate element depth from tags alone; stops counting once past `limit`."""
    stack: list[str] = []
    deepest = 0
    for closing, name, self_closing in _TAG.findall(markup):
        name = name.lower()
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
        if deepest > limit:
            break
    return deepest


def _is_chrome(tag: Tag) -> bool:
    """Site header/footer/aside outside any article, or any element given a chrome role."""
    role = str(tag.get("role") or "").lower()
    if role in _CHROME_ROLES:
        return True
    if tag.get("hidden") is not None or str(tag.get("aria-hidden") or "").lower() == "true":
        return True
    if tag.name in _CHROME:
        return not any(p.name in _SECTIONING for p in tag.parents)
    return False


def read_html(data: bytes, *, source: str) -> Extracted:
    """Read HTML into heading and paragraph blocks; <title> or the first h1 is the title."""
    markup = decode_text(data, source=source, html=True)
    depth = nesting_depth(markup)
    if depth > MAX_DEPTH:
        raise DocumentTooComplex(f"elements are nested more than {MAX_DEPTH} deep", source=source)
    from bs4 import BeautifulSoup, Comment, NavigableString

    soup = BeautifulSoup(markup, "html.parser")
    title_tag = soup.find("title")
    title = " ".join(title_tag.get_text(" ").split()) if title_tag else None
    for tag in list(soup.find_all(True)):
        if tag.decomposed:
            continue
        if tag.name in _DROP or tag.name in ("head", "title") or _is_chrome(tag):
            tag.decompose()
    for br in soup.find_all("br"):
        br.replace_with("\n")

    blocks: list[Block] = []
    current: Tag | None = None
    cell: Tag | None = None
    pieces: list[str] = []

    def flush() -> None:
        if current is None:
            return
        text = "".join(pieces)
        lines = [" ".join(ln.split()) for ln in text.split("\n")]
        text = "\n".join(ln for ln in lines if ln)
        if text:
            if current.name in _HEADINGS:
                blocks.append(Block("heading", " ".join(text.split()), level=_HEADINGS[current.name]))
            else:
                blocks.append(Block("para", text))

    for node in soup.descendants:
        if not isinstance(node, NavigableString) or isinstance(node, Comment):
            continue
        if type(node) is not NavigableString:  # CData, doctype, processing instructions
            continue
        owner = next((p for p in node.parents if p.name in _BLOCKS), None)
        row_cell = next((p for p in node.parents if p.name in ("td", "th")), None)
        if owner is not None and owner.name in ("td", "th") and row_cell is not None:
            owner = next((p for p in row_cell.parents if p.name == "tr"), owner)
        if owner is not current:
            flush()
            current, pieces, cell = owner, [], row_cell
        elif row_cell is not cell:
            if "".join(pieces).strip():
                pieces.append(" | ")
            cell = row_cell
        pieces.append(str(node))
    flush()
    if title is None:
        title = next((b.text for b in blocks if b.kind == "heading" and b.level == 1), None)
    return Extracted(blocks=blocks, title=title)
