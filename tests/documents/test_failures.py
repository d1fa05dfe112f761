"""Hostile and broken inputs, generated here: each ends as a coded DocumentError, quickly."""

from __future__ import annotations

import io
import os
import time
import zipfile
import zlib
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
from warden.schemas import Document
from warden.testing import pdf_document, simple_pdf

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


# Inputs found by mutation fuzzing (bench/fuzz_documents.py). Each used to hang for minutes,
# blow up memory or fail a readable document; the time bounds are CPU seconds, far above what
# the fixed loaders need (well under a second) and far below what the old ones took.


def _cpu_bound(data: bytes, name: str, seconds: float = 5.0) -> DocumentError | Document:
    started = time.process_time()
    try:
        result: DocumentError | Document = load_bytes(data, name)
    except DocumentError as exc:
        assert name in str(exc) and exc.code in DOCUMENT_ERROR_CODES
        result = exc
    used = time.process_time() - started
    assert used < seconds, f"{name}: {used:.1f} s of CPU"
    return result


_MD_HEAD = b"# Privacy notice\n\nWe collect your name and e-mail address.\n\n- one\n- two\n\n"


@pytest.mark.parametrize(
    "tail",
    [
        b"[" * 60_000,
        b"[a](" * 16_000,
        b"<a" * 100_000,
        b"<!--" * 20_000,
        b"<http://" * 10_000,
        b"*a " * 25_000,
        b"~~a " * 20_000,
        b"# a" + b" " * 30_000 + b"b",
        b" \t" * 30_000 + b"x",
    ],
    ids=[
        "brackets",
        "link-openers",
        "tag-openers",
        "comments",
        "autolinks",
        "emphasis",
        "strike",
        "heading-spaces",
        "whitespace",
    ],
)
def test_markdown_with_unclosed_openers_or_long_runs_loads_in_linear_time(tail: bytes) -> None:
    doc = _cpu_bound(_MD_HEAD + tail + b"\n", "runs.md")
    assert isinstance(doc, Document) and doc.passages


def test_text_full_of_brackets_is_detected_in_linear_time() -> None:
    doc = _cpu_bound(b"Notice. " + b"[" * 60_000, "brackets.txt")
    assert isinstance(doc, Document)


def test_markdown_table_with_half_a_million_cells_loads_in_seconds() -> None:
    """Inline markup is rendered in one pass over all cells, not one regex call per cell."""
    doc = _cpu_bound(_MD_HEAD + (b"| a " * 200 + b"|\n") * 2500, "wide.md", seconds=6.0)
    assert isinstance(doc, Document) and doc.passages[1].text.startswith("a | a | a")


@pytest.mark.parametrize(
    "line", [b"- " * 1_500_000 + b"x", b"|--" * 1_000_000 + b"x"], ids=["rule", "table-rule"]
)
def test_a_3_mb_line_of_repeated_markdown_syntax_stays_in_bounded_memory(line: bytes) -> None:
    """The regex engine kept a backtracking entry per repetition: ~120 bytes a character."""
    import tracemalloc

    tracemalloc.start()
    try:
        load_bytes(_MD_HEAD + line + b"\n", "line.md")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 120 * 2**20, f"peak {peak / 2**20:.0f} MB"


_HTML_HEAD = b"<html><head><title>Notice</title></head><body><h1>Privacy</h1><p>We collect data.</p>"


@pytest.mark.parametrize(
    "tail",
    [b"<a " * 40_000, b"<!--x>" * 20_000, b"<![CDATA[x>" * 100_000, b"<p>x" * 20_000, b"<li>x" * 20_000],
    ids=["unclosed-tags", "unclosed-comments", "unclosed-cdata", "unclosed-paragraphs", "unclosed-items"],
)
def test_html_with_unclosed_constructs_loads_in_linear_time(tail: bytes) -> None:
    doc = _cpu_bound(_HTML_HEAD + tail, "unclosed.html", seconds=8.0)
    assert isinstance(doc, Document) and doc.passages[0].text.startswith("We collect data.")


def test_html_with_too_many_elements_is_refused_before_parsing() -> None:
    err = _cpu_bound(_HTML_HEAD + b"<td>x</td>" * 120_000, "cells.html", seconds=3.0)
    assert isinstance(err, DocumentTooComplex) and "100,000 elements" in err.reason


def test_html_with_an_idna_meta_charset_is_read_as_utf8() -> None:
    doc = load_bytes(
        b'<html><head><meta charset="idna"></head><body><p>We collect data.</p></body></html>', "n.html"
    )
    assert doc.passages[0].text == "We collect data."


def _form_bomb(runs: int, draws: int) -> bytes:
    """A PDF under 1 KB whose one page draws a form holding `runs` text runs `draws` times."""
    form = zlib.compress(b"BT /F1 9 Tf 72 700 Td " + b"(We share your data.) Tj " * runs + b"ET")
    page = zlib.compress(b"/Fm0 Do " * draws)
    return pdf_document(
        [
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
            b"<< /Type /XObject /Subtype /Form /BBox [0 0 595 842] /Resources << /Font << /F1 1 0 R >> >> "
            b"/Filter /FlateDecode /Length %d >>\nstream\n" % len(form) + form + b"\nendstream",
            b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(page) + page + b"\nendstream",
            b"<< /Type /Page /Parent 5 0 R /MediaBox [0 0 595 842] /Resources << /XObject << /Fm0 2 0 R >> "
            b"/Font << /F1 1 0 R >> >> /Contents 3 0 R >>",
            b"<< /Type /Pages /Kids [4 0 R] /Count 1 >>",
            b"<< /Type /Catalog /Pages 5 0 R >>",
        ],
        root=6,
    )


def _text_lines_bomb() -> bytes:
    """A PDF of 4.5 KB whose one page shows 80,000 lines of text."""
    return simple_pdf([b"BT /F1 11 Tf 72 700 Td 14 TL " + b"(We share data.) ' " * 80_000 + b"ET"])


@pytest.mark.parametrize(
    "make",
    [lambda: _form_bomb(runs=100, draws=5000), _text_lines_bomb],
    ids=["form-drawn-5000-times", "80000-lines"],
)
def test_tiny_pdf_that_repeats_text_or_forms_is_refused_as_too_complex(make: Callable[[], bytes]) -> None:
    err = _cpu_bound(make(), "bomb.pdf", seconds=10.0)
    assert isinstance(err, DocumentTooComplex) and "work units" in err.reason
    assert err.fix and "Print the PDF" in err.fix


def test_pdf_with_an_unknown_font_encoding_loads_without_logging_pypdf_errors(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """pypdf logs this at ERROR with the whole 256-entry table, which the CLI printed."""
    data = (
        (FIXTURES / "northwind_health.pdf").read_bytes().replace(b"/WinAnsiEncoding", b"/WxnAnsiEncoding", 1)
    )
    doc = load_bytes(data, "odd-encoding.pdf")
    assert doc.passages
    assert not [r for r in caplog.records if r.name.startswith("pypdf")]


def test_pdf_drawing_a_form_a_few_times_still_loads() -> None:
    doc = load_bytes(_form_bomb(runs=3, draws=20), "forms.pdf")
    assert "We share your data." in doc.text


def _docx_with_body(xml: bytes) -> bytes:
    """The Kestrel notice (styles.xml of 1,000+ styles) with `xml` at the start of its body."""
    source = (FIXTURES / "kestrel_mobility.docx").read_bytes()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(source)) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            body = zin.read(info)
            if info.filename == "word/document.xml":
                body = body.replace(b"<w:body>", b"<w:body>" + xml, 1)
            zout.writestr(info.filename, body)
    return out.getvalue()


def _docx_with_table(rows: bytes) -> bytes:
    return _docx_with_body(b"<w:tbl>" + rows + b"</w:tbl>")


def _paragraphs(count: int) -> bytes:
    return b"".join(
        b"<w:p><w:r><w:t>We keep record %d for a year.</w:t></w:r></w:p>" % n for n in range(count)
    )


def test_docx_with_10000_paragraphs_resolves_each_style_once() -> None:
    """Resolving a paragraph's style searched all of styles.xml: 3 ms a paragraph."""
    doc = _cpu_bound(_docx_with_body(_paragraphs(10_000)), "long.docx", seconds=10.0)
    assert isinstance(doc, Document) and "We keep record 9999 for a year." in doc.text


def test_docx_with_too_many_paragraphs_is_refused_before_reading_them() -> None:
    err = _cpu_bound(_docx_with_body(_paragraphs(60_000)), "huge.docx", seconds=5.0)
    assert isinstance(err, DocumentTooLarge) and "paragraphs" in err.reason


def test_docx_with_a_body_over_the_xml_limit_is_refused_before_parsing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from warden.documents import docx_loader

    monkeypatch.setattr(docx_loader, "MAX_BODY_XML", 100_000)
    with pytest.raises(DocumentTooLarge, match="bytes of XML"):
        load_bytes(_docx_with_body(_paragraphs(3000)), "big-body.docx")


def _tc(text: bytes, props: bytes = b"") -> bytes:
    return b"<w:tc><w:tcPr>%s</w:tcPr><w:p><w:r><w:t>%s</w:t></w:r></w:p></w:tc>" % (props, text)


def test_docx_cell_spanning_two_billion_columns_loads_quickly() -> None:
    data = _docx_with_table(
        b"<w:tr>" + _tc(b"wide", b'<w:gridSpan w:val="2000000000"/>') + _tc(b"next") + b"</w:tr>"
    )
    doc = _cpu_bound(data, "span.docx")
    assert isinstance(doc, Document) and doc.passages[0].text.startswith("wide | next")


def test_docx_vertical_merge_continuing_from_no_row_is_read() -> None:
    doc = load_bytes(
        _docx_with_table(b"<w:tr>" + _tc(b"merged", b"<w:vMerge/>") + _tc(b"b") + b"</w:tr>"), "v.docx"
    )
    assert doc.passages[0].text.startswith("merged | b")


def test_docx_vertical_merge_over_2000_rows_loads_in_linear_time() -> None:
    first = b"<w:tr>" + _tc(b"root", b'<w:vMerge w:val="restart"/>') + _tc(b"r0") + b"</w:tr>"
    data = _docx_with_table(first + (b"<w:tr>" + _tc(b"", b"<w:vMerge/>") + _tc(b"r") + b"</w:tr>") * 2000)
    doc = _cpu_bound(data, "long-merge.docx")
    assert isinstance(doc, Document) and doc.passages[0].text.startswith("root | r0\n\nroot | r\n\nroot | r")


def test_docx_merged_cells_read_as_before() -> None:
    """Horizontal spans count once; a vertical merge repeats its first cell in each row."""
    rows = (
        b"<w:tr>" + _tc(b"h1") + _tc(b"h2", b'<w:gridSpan w:val="2"/>') + b"</w:tr>"
        b"<w:tr>" + _tc(b"m", b'<w:vMerge w:val="restart"/>') + _tc(b"x") + _tc(b"y") + b"</w:tr>"
        b"<w:tr>" + _tc(b"", b"<w:vMerge/>") + _tc(b"z", b'<w:gridSpan w:val="2"/>') + b"</w:tr>"
    )
    doc = load_bytes(_docx_with_table(rows), "merged.docx")
    assert doc.passages[0].text == "h1 | h2\n\nm | x | y\n\nm | z"


def test_text_of_a_million_blank_lines_is_refused_as_too_large() -> None:
    err = _cpu_bound(b"Notice.\n" + b"\n" * 1_000_000 + b"End.", "blank.md")
    assert isinstance(err, DocumentTooLarge) and "1,000,002 lines" in err.reason


@pytest.mark.parametrize("name", ["para.txt", "para.md", "para.html"])
def test_a_long_paragraph_is_read_without_a_list_of_every_word(name: str) -> None:
    """Whitespace is collapsed a megabyte at a time: a list of every word costs ~60 bytes a word,
    over 500 MB for a 50 MB paragraph. Here 2.5 MB: about 15 MB traced, 35 MB with the list."""
    import tracemalloc

    head = b"<html><body><p>" if name.endswith(".html") else b""
    tracemalloc.start()
    try:
        doc = load_bytes(head + b"We collect data. " * 150_000, name)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert doc.passages[0].text.startswith("We collect data. We collect data.")
    assert peak < 28 * 2**20, f"peak {peak / 2**20:.0f} MB"


def test_a_pdf_printed_by_chromium_loads_although_it_places_glyphs_one_by_one() -> None:
    """4 pages (60 KB) of justified, letter-spaced text from headless Chromium's print-to-PDF:
    ~232,000 work units, which a budget of one unit per byte refused as a text bomb."""
    data = (Path(__file__).parent / "data" / "chromium_print.pdf").read_bytes()
    doc = load_bytes(data, "chromium_print.pdf")
    assert len(doc.passages) > 20
    assert doc.passages[0].text.startswith("process object we retention collect")
