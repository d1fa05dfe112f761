"""The public entry: bytes or a path in, a validated `Document` or a `DocumentError` out.

Size is checked before the bytes are read, the format comes from the content, and every
library failure is converted here, at the loader boundary, so no traceback reaches a user.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from warden.documents.blocks import Extracted
from warden.documents.detect import detect_format
from warden.documents.docx_loader import read_docx
from warden.documents.errors import (
    DocumentCorrupt,
    DocumentEmpty,
    DocumentError,
    DocumentNotFound,
    DocumentTooComplex,
    DocumentTooLarge,
)
from warden.documents.html_loader import read_html
from warden.documents.markdown_loader import read_markdown
from warden.documents.passages import MAX_PASSAGES, build_passages
from warden.documents.pdf_loader import read_pdf
from warden.documents.safetext import clean_extracted, clean_name
from warden.documents.text_loader import read_text
from warden.schemas.document import Document, DocumentFormat

__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_MAX_PAGES", "load_bytes", "load_document"]

DEFAULT_MAX_BYTES = 50 * 2**20
DEFAULT_MAX_PAGES = 2000


def load_document(
    path: str | Path,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pages: int = DEFAULT_MAX_PAGES,
) -> Document:
    """Read a file into a `Document`; its size is checked before its bytes are read."""
    source = str(path)
    try:
        info = os.stat(path)
    except OSError as exc:
        raise DocumentNotFound(f"cannot open the file ({exc.strerror})", source=source) from exc
    if not stat.S_ISREG(info.st_mode):
        raise DocumentNotFound("not a regular file", source=source)
    _check_size(info.st_size, max_bytes, source)
    try:
        with open(path, "rb") as fh:
            data = fh.read(max_bytes + 1)  # the file may have grown since stat
    except OSError as exc:
        raise DocumentNotFound(f"cannot read the file ({exc.strerror})", source=source) from exc
    _check_size(len(data), max_bytes, source)
    return _load(data, Path(path).name, source, max_bytes=max_bytes, max_pages=max_pages)


def load_bytes(
    data: bytes,
    name: str,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pages: int = DEFAULT_MAX_PAGES,
) -> Document:
    """Read uploaded bytes into a `Document`; `name` is kept for display and messages only."""
    _check_size(len(data), max_bytes, name)
    return _load(data, name, name, max_bytes=max_bytes, max_pages=max_pages)


def _check_size(size: int, max_bytes: int, source: str) -> None:
    if size > max_bytes:
        raise DocumentTooLarge(
            f"the file is {size:,} bytes, over the {max_bytes:,}-byte limit", source=source
        )


def _load(data: bytes, name: str, source: str, *, max_bytes: int, max_pages: int) -> Document:
    if not data:
        raise DocumentEmpty("the file is empty (0 bytes)", source=source)
    fmt = detect_format(data, source=source)
    try:
        extracted = _extract(fmt, data, source, max_bytes=max_bytes, max_pages=max_pages)
    except DocumentError:
        raise
    except RecursionError as exc:
        raise DocumentTooComplex(f"the {fmt} structure is nested too deeply to read", source=source) from exc
    except MemoryError as exc:
        raise DocumentTooLarge(f"reading the {fmt} needs more memory than allowed", source=source) from exc
    except Exception as exc:  # library failures on hostile input: convert, never leak
        raise DocumentCorrupt(
            f"the content looks like {fmt} but cannot be read ({type(exc).__name__}: {exc})",
            source=source,
        ) from exc
    doc_id = hashlib.sha256(data).hexdigest()
    text, passages = build_passages(clean_extracted(extracted).blocks, doc_id, limit=MAX_PASSAGES)
    if len(passages) > MAX_PASSAGES:
        raise DocumentTooComplex(
            f"the {fmt} has more than {MAX_PASSAGES:,} passages",
            source=source,
            fix="Upload only the notice itself, or split the file into parts.",
        )
    if not passages:
        raise DocumentEmpty(f"the {fmt} holds no readable paragraphs", source=source)
    return Document(
        id=doc_id,
        name=clean_name(name),
        format=fmt,
        pages=extracted.pages,
        title=extracted.title,
        text_chars=len(text),
        passages=passages,
        text=text,
    )


def _extract(fmt: DocumentFormat, data: bytes, source: str, *, max_bytes: int, max_pages: int) -> Extracted:
    if fmt == "pdf":
        return read_pdf(data, source=source, max_pages=max_pages)
    if fmt == "docx":
        return read_docx(data, source=source, max_bytes=max_bytes)
    if fmt == "html":
        return read_html(data, source=source)
    if fmt == "markdown":
        return read_markdown(data, source=source)
    return read_text(data, source=source)
