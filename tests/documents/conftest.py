"""Builders for the documents tests: tiny PDFs made in memory, and the bundled fixtures."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from warden.testing import pdf_escape, simple_pdf

NOTICES = Path(__file__).resolve().parents[2] / "fixtures" / "notices"


def text_page(lines: list[str], size: int = 11) -> bytes:
    """A content stream drawing each line 16pt below the last."""
    return b"\n".join(
        b"BT /F1 %d Tf 72 %d Td (%s) Tj ET" % (size, 760 - 16 * i, pdf_escape(line))
        for i, line in enumerate(lines)
    )


@pytest.fixture
def text_pdf() -> Callable[..., bytes]:
    """Make a PDF with one page per list of lines."""

    def make(*pages: list[str]) -> bytes:
        return simple_pdf([text_page(lines) for lines in pages])

    return make


@pytest.fixture
def image_only_pdf() -> bytes:
    """Two pages that paint an image and carry no text operators: a scan."""
    image = b"/XObject << /Im1 << /Type /XObject /Subtype /Image /Width 1 /Height 1 >> >>"
    page = b"q 400 0 0 600 100 100 cm /Im1 Do Q"
    return simple_pdf([page, page], extra_resources=image)


@pytest.fixture
def notices() -> Path:
    return NOTICES
