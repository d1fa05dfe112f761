"""Document ingestion: PDF, HTML, DOCX, Markdown and text into passages worth citing.

`load_document(path)` / `load_bytes(data, name)` return a `warden.schemas.Document` whose
passages carry heading path, page and offsets into `Document.text`, or raise a
`DocumentError` (a `warden.errors.LoadError`) with a stable code. pypdf, bs4 and python-docx
are imported only when a document of that kind is read.
"""

from __future__ import annotations

from warden.documents.detect import detect_format
from warden.documents.errors import (
    DOCUMENT_ERROR_CODES,
    DocumentCorrupt,
    DocumentEmpty,
    DocumentEncrypted,
    DocumentError,
    DocumentImageOnly,
    DocumentNotFound,
    DocumentTooComplex,
    DocumentTooLarge,
    DocumentTooManyPages,
    DocumentUnsupported,
)
from warden.documents.loader import DEFAULT_MAX_BYTES, DEFAULT_MAX_PAGES, load_bytes, load_document

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_PAGES",
    "DOCUMENT_ERROR_CODES",
    "DocumentCorrupt",
    "DocumentEmpty",
    "DocumentEncrypted",
    "DocumentError",
    "DocumentImageOnly",
    "DocumentNotFound",
    "DocumentTooComplex",
    "DocumentTooLarge",
    "DocumentTooManyPages",
    "DocumentUnsupported",
    "detect_format",
    "load_bytes",
    "load_document",
]
