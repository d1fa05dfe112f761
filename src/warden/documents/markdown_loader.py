"""Markdown: `#` and setext headings form the heading path; inline markup is stripped."""

from __future__ import annotations

import re

from warden.documents.blocks import Block, Extracted, squash
from warden.documents.decode import decode_text

__all__ = ["MAX_CELLS", "read_markdown", "strip_inline"]

MAX_CELLS = 1000
"""A line with more '|' than this is read as a paragraph, not a table row: a string per cell
costs ~60 bytes, so a 10 MB line of '|a' would take 300 MB as cells."""

_ATX = re.compile(r"^ {0,3}(#{1,6})(?:\s(.*))?$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)\s*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")
_LIST = re.compile(r"^ {0,3}(?:[-*+]|\d{1,9}[.)])\s+")
# Repeated groups are possessive (*+): the regex engine would otherwise keep a backtracking
# entry per repetition, hundreds of MB for a 10 MB line of '- ' or '|--'.
_RULE = re.compile(r"^ {0,3}(?:(?:-\s*){3,}+|(?:\*\s*){3,}+|(?:_\s*){3,}+)$")
_TABLE_SEP = re.compile(r"^\s*(?:\|\s*)?:?-{2,}:?\s*(?:\|\s*:?-{2,}:?\s*)*+(?:\|\s*)?$")
# Inline patterns never let a span run over its own opener ('[', '(', '<', the emphasis mark),
# so text full of unclosed openers is read in linear time, not rescanned from every opener. No
# span crosses a newline, so many texts can be rendered in one pass (see _render_all).
_URL = r"\((?:[^()\n]|\([^()\n]*\))*+\)"  # one level of parentheses, as in Wikipedia links
_IMAGE = re.compile(r"!\[([^\[\]\n]*)\]" + _URL)
_LINK = re.compile(r"\[([^\[\]\n]+)\]" + _URL)
_AUTOLINK = re.compile(r"<((?:https?://|mailto:)[^<>\s]+)>")
_EMPHASIS = re.compile(
    r"\*\*(?=\S)([^*\n]+?)(?<=\S)\*\*|__(?=\S)([^_\n]+?)(?<=\S)__|~~(?=\S)([^~\n]+?)(?<=\S)~~"
    r"|\*(?=\S)([^*\n]+?)(?<=\S)\*|_(?=\S)([^_\n]+?)(?<=\S)_"
)
_CODE = re.compile(r"`([^`\n]+)`")
_HTML_TAG = re.compile(r"</?[a-zA-Z][^<>\n]*>")
_COMMENT = re.compile(r"<!--.*?-->")


def _render(text: str) -> str:
    text = _IMAGE.sub(r"\1", text)
    text = _LINK.sub(r"\1", text)
    text = _AUTOLINK.sub(lambda m: m.group(1).removeprefix("mailto:"), text)
    text = _CODE.sub(r"\1", text)
    for _ in range(3):  # nested emphasis unwraps one level a pass
        text, found = _EMPHASIS.subn(lambda m: m.group(m.lastindex or 0), text)
        if not found:
            break
    end = text.rfind("-->") + 3  # no comment ends later: unclosed '<!--' after it are not rescanned
    if end > 2:
        text = _COMMENT.sub("", text[:end]) + text[end:]
    return _HTML_TAG.sub("", text)


def strip_inline(text: str) -> str:
    """Render inline Markdown as the words a reader sees."""
    return squash(_render(text))


def _render_all(texts: list[str]) -> list[str]:
    """`strip_inline` of each text (none holds a newline), with one pass of each pattern: a
    call per text would dominate on a document of a million tiny cells or paragraphs."""
    if not texts:
        return []
    return [squash(t) for t in _render("\n".join(texts)).split("\n")]


def _atx_text(raw: str | None) -> str:
    """A '#' heading's text without its optional closing run of '#'."""
    text = (raw or "").strip()
    bare = text.rstrip("#")
    if bare != text and (not bare or bare[-1].isspace()):
        text = bare.rstrip()
    return text


def read_markdown(data: bytes, *, source: str) -> Extracted:
    """Read Markdown; the first level-1 heading is the title."""
    lines = decode_text(data, source=source).split("\n")
    if lines and lines[0].strip() == "---":  # YAML front matter
        end = next((i for i, ln in enumerate(lines[1:], 1) if ln.strip() in ("---", "...")), 0)
        lines = lines[end + 1 :] if end else lines
    items: list[tuple[str, int, str | list[str]]] = []  # (kind, level, raw text or table cells)
    para: list[str] = []
    in_fence = False

    def flush() -> None:
        if para:
            if in_fence:
                if code := "\n".join(para).strip():
                    items.append(("code", 0, code))
            else:
                items.append(("para", 0, " ".join(para)))
        para.clear()

    for i, line in enumerate(lines):
        if _FENCE.match(line):
            flush()
            in_fence = not in_fence
            continue
        if in_fence:
            para.append(line)
            continue
        stripped = line.strip()
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if m := _ATX.match(line):
            flush()
            if heading := _atx_text(m.group(2)):
                items.append(("heading", len(m.group(1)), heading))
            continue
        setext = _SETEXT.match(nxt) if stripped and not para and not _LIST.match(line) else None
        if setext and not (_TABLE_SEP.match(nxt) and "|" in line):
            flush()
            items.append(("heading", 1 if setext.group(1)[0] == "=" else 2, stripped))
            lines[i + 1] = ""
            continue
        if not stripped or _RULE.match(line):
            flush()
            continue
        if _TABLE_SEP.match(line) and "-" in line and "|" in line:
            continue
        if stripped.startswith("|") and stripped.count("|") <= MAX_CELLS:
            flush()
            items.append(("row", 0, stripped.strip("|").split("|")))
            continue
        if _LIST.match(line):
            flush()
            para.append(_LIST.sub("", line, count=1))
            continue
        para.append(stripped.lstrip(">").strip() if stripped.startswith(">") else stripped)
    flush()
    blocks = _blocks(items)
    title = next((b.text for b in blocks if b.kind == "heading" and b.level == 1), None)
    return Extracted(blocks=blocks, title=title)


def _blocks(items: list[tuple[str, int, str | list[str]]]) -> list[Block]:
    """Render the inline markup of every item: table cells first, then each row as a line."""
    cells = iter(_render_all([c for kind, _, raw in items if kind == "row" for c in raw]))
    texts: list[str] = []
    for kind, _, raw in items:
        if kind == "row":
            texts.append(" | ".join(c for c in (next(cells) for _ in raw) if c))
        elif kind != "code":
            assert isinstance(raw, str)
            texts.append(raw)
    rendered = iter(_render_all(texts))
    blocks: list[Block] = []
    for kind, level, raw in items:
        if kind == "code":
            assert isinstance(raw, str)
            blocks.append(Block("para", raw))
        elif kind == "heading":
            blocks.append(Block("heading", next(rendered), level=level))
        elif text := next(rendered):
            blocks.append(Block("para", text))
    return blocks
