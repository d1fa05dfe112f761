"""The format comes from the bytes, whatever the file is called."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from warden.documents import DocumentUnsupported, detect_format, load_document

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "notices"


@pytest.mark.parametrize(
    ("fixture", "disguise", "fmt"),
    [
        ("northwind_health.pdf", "notice.txt", "pdf"),
        ("brightleaf_books.html", "notice.pdf", "html"),
        ("kestrel_mobility.docx", "notice.md", "docx"),
        ("tallow_and_finch.md", "notice.html", "markdown"),
        ("harbour_lane_dental.txt", "notice.docx", "text"),
    ],
)
def test_format_is_detected_from_content_not_name(
    tmp_path: Path, fixture: str, disguise: str, fmt: str
) -> None:
    target = tmp_path / disguise
    shutil.copyfile(FIXTURES / fixture, target)
    doc = load_document(target)
    assert doc.format == fmt
    assert doc.name == disguise


def test_html_fragment_without_html_element_is_html() -> None:
    assert detect_format(b"<h1>Notice</h1><p>We collect data.</p>") == "html"


def test_prose_mentioning_a_tag_is_text() -> None:
    assert detect_format(b"Our page uses the <p> element.\nIt is plain prose.\n") == "text"


def test_markdown_needs_markdown_markers() -> None:
    assert detect_format(b"# Notice\n\n- one\n- two\n") == "markdown"
    assert detect_format(b"Notice\n\nWe collect your name.\n") == "text"


def test_zip_without_word_document_is_unsupported(tmp_path: Path) -> None:
    import zipfile

    path = tmp_path / "book.docx"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/workbook.xml", "<workbook/>")
    with pytest.raises(DocumentUnsupported, match="Excel or PowerPoint") as info:
        load_document(path)
    assert info.value.code == "document_unsupported"


def test_png_image_is_unsupported_with_an_ocr_fix(tmp_path: Path) -> None:
    path = tmp_path / "scan.pdf"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    with pytest.raises(DocumentUnsupported, match="PNG") as info:
        load_document(path)
    assert "OCR" in (info.value.fix or "")
