"""Work out a document's format from its bytes: a file's name is a claim, its content is not."""

from __future__ import annotations

import io
import re
import zipfile

from warden.documents.decode import looks_binary
from warden.documents.errors import DocumentCorrupt, DocumentEmpty, DocumentUnsupported
from warden.schemas.document import DocumentFormat

__all__ = ["detect_format"]

_HTML = re.compile(
    rb"<!doctype\s+html|<html[\s>]|<head[\s>]|<body[\s>]|<(?:p|div|h[1-6]|title|meta|article|main)[\s>]",
    re.I,
)
_MARKDOWN = re.compile(
    r"^(?: {0,3}#{1,6}\s+\S|\S.*\n(?:=+|-+)\s*$| {0,3}[-*+]\s+\S| {0,3}\d+[.)]\s+\S|\|.*\|\s*$)"
    r"|\[[^\[\]\n]+\]\([^()\s]+\)|\*\*[^*\n]+\*\*|^```",
    re.M,
)
"""Character classes exclude their own opener, so a run of '[' or '<' without a closer costs
linear time instead of a rescan to the end of the sample from every opener."""
_TAG = re.compile(r"<[a-zA-Z/][^<>]*>")
_FOREIGN_MAGIC = (
    (b"\xd0\xcf\x11\xe0", "a legacy Microsoft Office file (.doc/.xls)", "Save it as DOCX or PDF."),
    (b"{\\rtf", "an RTF file", "Save it as DOCX or PDF."),
    (b"\x89PNG", "a PNG image", "Run OCR and upload the text, or upload the original notice."),
    (b"\xff\xd8\xff", "a JPEG image", "Run OCR and upload the text, or upload the original notice."),
    (b"GIF8", "a GIF image", "Upload the original notice instead of an image."),
    (b"\x1f\x8b", "a gzip archive", "Extract the document from the archive and upload it."),
    (b"7z\xbc\xaf", "a 7-Zip archive", "Extract the document from the archive and upload it."),
    (b"Rar!", "a RAR archive", "Extract the document from the archive and upload it."),
)


def detect_format(data: bytes, *, source: str = "<input>") -> DocumentFormat:
    """Return the format the bytes are in, or raise a `DocumentError` saying why none fits."""
    if not data.strip():
        raise DocumentEmpty("the file is empty", source=source)
    head = data[:1024]
    if b"%PDF-" in head:
        return "pdf"
    if data.startswith(b"PK"):
        return _zip_format(data, source)
    for magic, what, fix in _FOREIGN_MAGIC:
        if data.startswith(magic):
            raise DocumentUnsupported(f"the content is {what}", source=source, fix=fix)
    if looks_binary(data):
        raise DocumentUnsupported(
            "the content is binary data, not a PDF, DOCX, HTML, Markdown or text document",
            source=source,
        )
    if _HTML.search(data[:4096]) and data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        return "html"
    sample = data[:65536].decode("utf-8", errors="replace")
    if _HTML.search(data[:4096]) and len(_TAG.findall(sample)) >= 5:
        return "html"
    if len(_MARKDOWN.findall(sample)) >= 2:
        return "markdown"
    return "text"


def _zip_format(data: bytes, source: str) -> DocumentFormat:
    """A zip is a DOCX only when it holds word/document.xml; other Office zips are refused."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = set(zf.namelist())
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError) as exc:
        raise DocumentCorrupt(f"the zip container is damaged ({exc})", source=source) from exc
    if "word/document.xml" in names:
        return "docx"
    if any(n.startswith("xl/") for n in names) or any(n.startswith("ppt/") for n in names):
        what = "an Excel or PowerPoint file"
    elif "mimetype" in names or "content.xml" in names:
        what = "an OpenDocument file"
    else:
        what = "a zip archive without a Word document inside"
    raise DocumentUnsupported(f"the content is {what}", source=source, fix="Save it as DOCX or PDF.")
