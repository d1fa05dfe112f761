"""Builders for the documents tests: tiny PDFs made in memory, and the bundled fixtures."""

from __future__ import annotations

import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

NOTICES = Path(__file__).resolve().parents[2] / "fixtures" / "notices"


def _escape(text: str) -> bytes:
    raw = text.encode("cp1252")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def build_pdf(pages: list[bytes], extra_resources: bytes = b"") -> bytes:
    """A minimal valid PDF whose pages have the given content streams."""
    objects: list[bytes] = [
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"",  # pages, filled below
    ]
    kids = []
    for content in pages:
        stream = zlib.compress(content)
        objects.append(
            b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream"
        )
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
            b"/Resources << /Font << /F1 1 0 R >> %s >> /Contents %d 0 R >>" % (extra_resources, len(objects))
        )
        kids.append(len(objects))
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % k for k in kids),
        len(kids),
    )
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for n, obj in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        len(objects),
        xref,
    )
    return bytes(out)


def text_page(lines: list[str], size: int = 11) -> bytes:
    """A content stream drawing each line 16pt below the last."""
    return b"\n".join(
        b"BT /F1 %d Tf 72 %d Td (%s) Tj ET" % (size, 760 - 16 * i, _escape(line))
        for i, line in enumerate(lines)
    )


@pytest.fixture
def text_pdf() -> Callable[..., bytes]:
    """Make a PDF with one page per list of lines."""

    def make(*pages: list[str]) -> bytes:
        return build_pdf([text_page(lines) for lines in pages])

    return make


@pytest.fixture
def image_only_pdf() -> bytes:
    """Two pages that paint an image and carry no text operators: a scan."""
    image = b"/XObject << /Im1 << /Type /XObject /Subtype /Image /Width 1 /Height 1 >> >>"
    page = b"q 400 0 0 600 100 100 cm /Im1 Do Q"
    return build_pdf([page, page], extra_resources=image)


@pytest.fixture
def notices() -> Path:
    return NOTICES
