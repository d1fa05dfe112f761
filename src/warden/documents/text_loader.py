"""Plain text: paragraphs from blank lines, headings guessed from short title-like lines."""

from __future__ import annotations

import re
import statistics

from warden.documents.blocks import Extracted
from warden.documents.decode import decode_text
from warden.documents.layout import Line, lines_to_blocks

__all__ = ["read_text", "text_lines"]

_UNDERLINE = re.compile(r"^\s*(=+|-+)\s*$")


def text_lines(text: str) -> list[Line]:
    """Lines with a gap flag from blank lines; setext underlines mark the line above a heading."""
    raw = text.split("\n")
    lines: list[Line] = []
    gap = True
    for i, line in enumerate(raw):
        if not line.strip():
            gap = True
            continue
        m = _UNDERLINE.match(line)
        if m and len(m.group(1)) >= 3 and lines and i > 0 and raw[i - 1].strip():
            lines[-1].level = 1 if m.group(1)[0] == "=" else 2
            gap = True
            continue
        lines.append(Line(line.strip(), gap_before=gap))
        gap = False
    # Text with no blank lines at all and long lines is one paragraph per line (unwrapped).
    unbroken = lines and not any(ln.gap_before for ln in lines[1:])
    if unbroken and statistics.median(len(ln.text) for ln in lines) > 100:
        for ln in lines:
            ln.gap_before = True
    return lines


def read_text(data: bytes, *, source: str) -> Extracted:
    """Read plain text; the first guessed heading before any paragraph is the title."""
    blocks = lines_to_blocks(text_lines(decode_text(data, source=source)))
    title = None
    if blocks and blocks[0].kind == "heading":
        title = blocks[0].text
    return Extracted(blocks=blocks, title=title)
