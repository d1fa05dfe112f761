"""Characters no stored or printed text may carry, replaced where the loaders hand text over.

A notice is hostile input: terminal escape sequences (ESC, BEL, C1 controls) in a quote would
reach whoever reads `warden findings` in a terminal, Postgres refuses NUL in text, and a lone
surrogate (a PDF font map to U+D800, a file name that is not UTF-8) cannot be encoded at all.
"""

from __future__ import annotations

import re
from dataclasses import replace

from warden.documents.blocks import Extracted

__all__ = ["REPLACEMENT", "clean_extracted", "clean_name", "clean_text"]

REPLACEMENT = "\ufffd"
_SPACES = re.compile("[\x0b\x0c\r\x85]")
"""Controls that only break lines: a space keeps the words apart (and the length)."""
_UNSAFE = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff]")
"""C0 and C1 controls other than tab, newline and the spaces above, and lone surrogates."""
_NAME_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f]")
_SURROGATES = re.compile("[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """`text` with each unsafe character replaced one for one, so offsets into it still hold."""
    if _UNSAFE.search(text) is None and _SPACES.search(text) is None:
        return text  # the usual case: no copy
    return _UNSAFE.sub(REPLACEMENT, _SPACES.sub(" ", text))


def clean_name(name: str) -> str:
    """A file name fit to store and show: bytes that were not UTF-8 (surrogateescape) become
    U+FFFD, as a UTF-8 decoder would make them, and control characters are dropped."""
    return _SURROGATES.sub(REPLACEMENT, _NAME_CONTROLS.sub("", name))


def clean_extracted(extracted: Extracted) -> Extracted:
    """Every block's text and the title cleaned: one place for every format's loader."""
    extracted.blocks = [
        b if (t := clean_text(b.text)) is b.text else replace(b, text=t) for b in extracted.blocks
    ]
    if extracted.title is not None:
        extracted.title = clean_text(extracted.title)
    return extracted
