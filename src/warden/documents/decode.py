"""Bytes to text for the text-based formats, refusing binary that only looks like text."""

from __future__ import annotations

import codecs
import re

from warden.documents.charsets import web_codec
from warden.documents.errors import DocumentTooLarge, DocumentUnsupported

__all__ = ["MAX_LINES", "decode_text", "looks_binary"]

_BOMS = (  # Unicode's own encodings: linear, and a lone surrogate decodes as U+FFFD
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f\ufffd]")
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", re.I)
MAX_CONTROL_RATIO = 0.02
"""Real text has almost no control characters; binary junk has many."""
MAX_LINES = 200_000
"""A long notice has a few thousand lines. The loaders spend ~10 us and a few hundred bytes per
line, so 10 MB of blank or one-word lines would take over a minute and a gigabyte."""


def _bom(data: bytes) -> tuple[str, int] | None:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return encoding, len(bom)
    return None


def looks_binary(data: bytes) -> bool:
    """True when a sample of the bytes is not text in any encoding Warden reads."""
    sample = data[:8192]
    if _bom(sample):
        return False
    if b"\x00" in sample:
        return True
    text = sample.decode("utf-8", errors="replace")
    return len(_CONTROL.findall(text)) > MAX_CONTROL_RATIO * max(len(text), 1)


def _meta_charset_text(data: bytes) -> str | None:
    """`data` decoded by the charset its HTML meta tag declares, if browsers know that label
    (see `charsets`); None otherwise, and the caller detects the encoding as if none were given."""
    m = _META_CHARSET.search(data[:4096])
    codec = web_codec(m.group(1).decode("ascii")) if m else None
    if codec is None:
        return None
    return data.decode(codec, errors="replace")


def _utf8_or_cp1252(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def decode_text(data: bytes, *, source: str, html: bool = False) -> str:
    """Decode by BOM, then an HTML meta charset, then UTF-8, then Windows-1252."""
    found = _bom(data)
    if found:
        encoding, skip = found
        text = data[skip:].decode(encoding, errors="replace")
    else:
        declared = _meta_charset_text(data) if html else None
        text = declared if declared is not None else _utf8_or_cp1252(data)
    if len(_CONTROL.findall(text)) > MAX_CONTROL_RATIO * max(len(text), 1):
        raise DocumentUnsupported("the content is binary data, not text", source=source)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if (lines := text.count("\n") + 1) > MAX_LINES:
        raise DocumentTooLarge(
            f"the text has {lines:,} lines (limit {MAX_LINES:,})",
            source=source,
            fix="Upload only the notice itself, or split the file into parts.",
        )
    return text
