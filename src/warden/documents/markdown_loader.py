"""Markdown: `#` and setext headings form the heading path; inline markup is stripped."""

from __future__ import annotations

import re

from warden.documents.blocks import Block, Extracted
from warden.documents.decode import decode_text

__all__ = ["read_markdown", "strip_inline"]

_ATX = re.compile(r"^ {0,3}(#{1,6})(?:\s+(.*?))?(?:\s+#+)?\s*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)\s*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")
_LIST = re.compile(r"^ {0,3}(?:[-*+]|\d{1,9}[.)])\s+")
_RULE = re.compile(r"^ {0,3}(?:(?:-\s*){3,}|(?:\*\s*){3,}|(?:_\s*){3,})$")
_TABLE_SEP = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(?:\|\s*:?-{2,}:?\s*)*\|?\s*$")
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_AUTOLINK = re.compile(r"<((?:https?://|mailto:)[^>\s]+)>")
_EMPHASIS = re.compile(r"(\*\*|__|\*|_|~~)(?=\S)(.+?)(?<=\S)\1")
_CODE = re.compile(r"`([^`]+)`")
_HTML_TAG = re.compile(r"</?[a-zA-Z][^>]*>|<!--.*?-->")


def strip_inline(text: str) -> str:
    """Render inline Markdown as the words a reader sees."""
    text = _IMAGE.sub(r"\1", text)
    text = _LINK.sub(r"\1", text)
    text = _AUTOLINK.sub(lambda m: m.group(1).removeprefix("mailto:"), text)
    text = _CODE.sub(r"\1", text)
    for _ in range(3):
        text = _EMPHASIS.sub(r"\2", text)
    text = _HTML_TAG.sub("", text)
    return " ".join(text.split())


def read_markdown(data: bytes, *, source: str) -> Extracted:
    """Read Markdown; the first level-1 heading is the title."""
    lines = decode_text(data, source=source).split("\n")
    if lines and lines[0].strip() == "---":  # YAML front matter
        end = next((i for i, ln in enumerate(lines[1:], 1) if ln.strip() in ("---", "...")), 0)
        lines = lines[end + 1 :] if end else lines
    blocks: list[Block] = []
    para: list[str] = []
    in_fence = False

    def flush() -> None:
        if para:
            text = strip_inline(" ".join(para)) if not in_fence else "\n".join(para).strip()
            if text:
                blocks.append(Block("para", text))
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
            if m.group(2):
                blocks.append(Block("heading", strip_inline(m.group(2)), level=len(m.group(1))))
            continue
        setext = _SETEXT.match(nxt) if stripped and not para and not _LIST.match(line) else None
        if setext and not (_TABLE_SEP.match(nxt) and "|" in line):
            flush()
            level = 1 if setext.group(1)[0] == "=" else 2
            blocks.append(Block("heading", strip_inline(stripped), level=level))
            lines[i + 1] = ""
            continue
        if not stripped or _RULE.match(line):
            flush()
            continue
        if _TABLE_SEP.match(line) and "-" in line and "|" in line:
            continue
        if stripped.startswith("|"):
            flush()
            cells = [strip_inline(c) for c in stripped.strip("|").split("|")]
            para.append(" | ".join(c for c in cells if c))
            flush()
            continue
        if _LIST.match(line):
            flush()
            para.append(_LIST.sub("", line, count=1))
            continue
        para.append(stripped.lstrip(">").strip() if stripped.startswith(">") else stripped)
    flush()
    title = next((b.text for b in blocks if b.kind == "heading" and b.level == 1), None)
    return Extracted(blocks=blocks, title=title)
