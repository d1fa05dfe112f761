"""Hostile and broken inputs, generated here: each ends as a coded DocumentError, quickly."""

from __future__ import annotations

import io
import os
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from warden.documents import (
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
    load_bytes,
    load_document,
)
from warden.errors import LoadError

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "notices"


def _fails(path: Path, error: type[DocumentError], code: str, **kwargs: int) -> DocumentError:
    with pytest.raises(error) as info:
        load_document(path, **kwargs)
    err = info.value
    assert isinstance(err, LoadError)
    assert err.code == code and code in DOCUMENT_ERROR_CODES
    assert str(path) in str(err), "the message names the file"
    assert err.fix, "every failure suggests a fix"
    return err


def test_encrypted_pdf_is_refused(tmp_path: Path, text_pdf: Callable[..., bytes]) -> None:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(text_pdf(["Secret notice text."]))))
    writer.encrypt(user_password="s3cret", owner_password="owner", algorithm="RC4-128")
    path = tmp_path / "locked.pdf"
    with path.open("wb") as fh:
        writer.write(fh)
    err = _fails(path, DocumentEncrypted, "document_encrypted")
    assert "password" in err.reason


def test_pdf_with_only_an_owner_password_is_read(tmp_path: Path, text_pdf: Callable[..., bytes]) -> None:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(text_pdf(["Readable notice text here."]))))
    writer.encrypt(user_password="", owner_password="owner", algorithm="RC4-128")
    path = tmp_path / "restricted.pdf"
    with path.open("wb") as fh:
        writer.write(fh)
    assert load_document(path).passages[0].text == "Readable notice text here."


def test_truncated_pdf_is_corrupt(tmp_path: Path) -> None:
    data = (FIXTURES / "northwind_health.pdf").read_bytes()
    path = tmp_path / "cut.pdf"
    path.write_bytes(data[: len(data) // 2])
    _fails(path, DocumentCorrupt, "document_corrupt")


def test_pdf_with_damaged_structure_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "damaged.pdf"
    path.write_bytes(b"%PDF-1.7\n" + os.urandom(3000) + b"\n%%EOF\n")
    _fails(path, DocumentCorrupt, "document_corrupt")


def test_binary_junk_named_pdf_is_unsupported(tmp_path: Path) -> None:
    path = tmp_path / "notice.pdf"
    path.write_bytes(bytes(range(256)) * 40)
    err = _fails(path, DocumentUnsupported, "document_unsupported")
    assert "binary" in err.reason


def test_image_only_pdf_asks_for_ocr(tmp_path: Path, image_only_pdf: bytes) -> None:
    path = tmp_path / "scan.pdf"
    path.write_bytes(image_only_pdf)
    err = _fails(path, DocumentImageOnly, "document_image_only")
    assert "OCR" in (err.fix or "") and "2 pages" in err.reason


def test_pdf_over_max_pages_is_refused_before_extraction(tmp_path: Path) -> None:
    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(2500):
        writer.add_blank_page(width=595, height=842)
    path = tmp_path / "huge.pdf"
    with path.open("wb") as fh:
        writer.write(fh)
    started = time.monotonic()
    err = _fails(path, DocumentTooManyPages, "document_too_many_pages")
    assert "2500 pages" in err.reason
    assert time.monotonic() - started < 5


def test_max_pages_applies_to_a_real_notice() -> None:
    path = FIXTURES / "northwind_health.pdf"
    _fails(path, DocumentTooManyPages, "document_too_many_pages", max_pages=3)
    assert load_document(path, max_pages=4).pages == 4


def test_zip_bomb_named_docx_is_refused_from_the_directory(tmp_path: Path) -> None:
    path = tmp_path / "bomb.docx"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("word/document.xml", b"<" + b"\0" * (40 * 2**20))
    assert path.stat().st_size < 200_000
    err = _fails(path, DocumentTooLarge, "document_too_large")
    assert "zip bomb" in err.reason


def test_docx_expanding_past_four_times_max_bytes_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.docx"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("word/document.xml", os.urandom(300_000))  # incompressible: ratio 1
        zf.writestr("word/media/pad.bin", b"x" * 1_000_000)  # under the ratio rule's 1 MiB floor
    assert path.stat().st_size <= 310_000
    err = _fails(path, DocumentTooLarge, "document_too_large", max_bytes=310_000)
    assert "1,240,000" in err.reason


def test_damaged_zip_named_docx_is_corrupt(tmp_path: Path) -> None:
    data = (FIXTURES / "kestrel_mobility.docx").read_bytes()
    path = tmp_path / "cut.docx"
    path.write_bytes(data[: len(data) // 2])
    _fails(path, DocumentCorrupt, "document_corrupt")


def test_docx_package_missing_its_parts_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "hollow.docx"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("word/document.xml", "<w:document/>")
    _fails(path, DocumentCorrupt, "document_corrupt")


def test_deeply_nested_html_is_refused_without_recursion_error(tmp_path: Path) -> None:
    depth = 100_000
    path = tmp_path / "deep.html"
    path.write_text("<html><body>" + "<div>" * depth + "text" + "</div>" * depth + "</body></html>")
    started = time.monotonic()
    err = _fails(path, DocumentTooComplex, "document_too_complex")
    assert "nested" in err.reason
    assert time.monotonic() - started < 3


def test_moderately_nested_html_still_loads() -> None:
    depth = 300
    html = "<html><body>" + "<div>" * depth + "<p>Deep but fine text in a real page.</p>" + "</div>" * depth
    doc = load_bytes(html.encode(), "ok.html")
    assert doc.passages[0].text == "Deep but fine text in a real page."


def test_empty_file_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "empty.pdf"
    path.write_bytes(b"")
    _fails(path, DocumentEmpty, "document_empty")


def test_whitespace_only_file_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "blank.txt"
    path.write_bytes(b" \n\n\t  \r\n")
    _fails(path, DocumentEmpty, "document_empty")


def test_html_with_only_chrome_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "chrome.html"
    path.write_text("<html><body><nav>Home</nav><script>var x = 1;</script></body></html>")
    _fails(path, DocumentEmpty, "document_empty")


def test_oversized_file_is_refused_before_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "big.txt"
    path.write_bytes(b"Privacy notice text. " * 1000)
    opened: list[object] = []
    real_open = open
    monkeypatch.setattr("builtins.open", lambda *a, **k: opened.append(a) or real_open(*a, **k))
    err = _fails(path, DocumentTooLarge, "document_too_large", max_bytes=1000)
    assert not opened, "the file was opened although stat already showed it too large"
    assert "21,000 bytes" in err.reason


def test_load_bytes_checks_max_bytes() -> None:
    with pytest.raises(DocumentTooLarge) as info:
        load_bytes(b"x" * 2001, "upload.txt", max_bytes=2000)
    assert "upload.txt" in str(info.value)


def test_missing_path_and_directory_are_not_found(tmp_path: Path) -> None:
    _fails(tmp_path / "nope.pdf", DocumentNotFound, "document_not_found")
    _fails(tmp_path, DocumentNotFound, "document_not_found")


def test_undecodable_text_is_unsupported() -> None:
    junk = b"Privacy " + b"\x01\x02\x03\x04\x05\x06" * 50
    with pytest.raises(DocumentUnsupported):
        load_bytes(junk, "odd.txt")
