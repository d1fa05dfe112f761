"""Text no stored or printed value may carry (controls, lone surrogates), charsets a page may
declare, and the passage cap: each at the loader boundary, for every format."""

from __future__ import annotations

import io
import time

import pytest

import warden.documents.loader as loader_module
from warden.documents import DocumentTooComplex, load_bytes
from warden.documents.charsets import web_codec
from warden.documents.decode import decode_text
from warden.documents.safetext import REPLACEMENT, clean_name, clean_text

BODY = "We keep your data for two years after your last order, then delete it. " * 10
SENTENCE = "We collect your email address for marketing newsletters and analytics cookies on our site."
ESCAPES = "\x1b]0;PWNED\x07\x1b[2J\x9b31m"


def _unsafe(text: str) -> list[str]:
    return sorted({c for c in text if (ord(c) < 32 and c not in "\t\n") or 0x7F <= ord(c) <= 0x9F})


def test_clean_text_replaces_one_for_one_and_keeps_tab_and_newline() -> None:
    raw = f"a{ESCAPES}b\x00c\ud800d\te\nf\rg\x0ch"
    cleaned = clean_text(raw)
    assert len(cleaned) == len(raw)
    assert _unsafe(cleaned) == [] and "\ud800" not in cleaned
    assert cleaned.count(REPLACEMENT) == 6  # ESC, BEL, ESC, CSI, NUL, the surrogate
    assert "\t" in cleaned and "\n" in cleaned and "f g h" in cleaned


def test_clean_text_returns_ordinary_text_unchanged() -> None:
    text = f"{SENTENCE}\n\n\tcafé “quoted”"
    assert clean_text(text) is text


def test_clean_name_drops_controls_and_marks_bytes_that_were_not_utf8() -> None:
    assert clean_name(f"notice{ESCAPES}.md") == "notice]0;PWNED[2J31m.md"
    assert clean_name("\udcff\udcfe-notice.md") == f"{REPLACEMENT}{REPLACEMENT}-notice.md"


@pytest.mark.parametrize(
    ("name", "data"),
    [
        (
            "notice.md",
            f"# Notice\n\n{SENTENCE} {ESCAPES} and more.\n\n{BODY * 12}\n\nA NUL\x00 past 8 KB.\n".encode(),
        ),
        ("notice.txt", f"Notice\n\n{SENTENCE} {ESCAPES} and more.\n\n{BODY}\n".encode()),
        (
            "notice.html",
            f"<html><body><h1>Notice</h1><p>{SENTENCE} &#27;[2J &#x9b; &#7;</p></body></html>".encode(),
        ),
    ],
)
def test_every_format_hands_over_text_without_controls_and_offsets_hold(name: str, data: bytes) -> None:
    doc = load_bytes(data, f"{name}{ESCAPES}")
    assert _unsafe(doc.text) == [] and _unsafe(doc.name) == []
    assert all(doc.text[p.start : p.end] == p.text for p in doc.passages)
    assert REPLACEMENT in doc.text


def test_a_docx_paragraph_with_controls_is_cleaned() -> None:
    import docx

    document = docx.Document()
    document.add_heading("Notice", level=1)
    paragraph = document.add_paragraph(SENTENCE)
    paragraph.runs[0].text = f"{SENTENCE} \x9b31m \x85 \x90"  # XML 1.0 refuses C0 controls, not C1
    out = io.BytesIO()
    document.save(out)
    doc = load_bytes(out.getvalue(), "notice.docx")
    assert _unsafe(doc.text) == []


@pytest.mark.parametrize(
    ("label", "codec"),
    [
        ("utf-8", "utf-8"),
        ("UTF8", "utf-8"),
        ("latin1", "cp1252"),
        ("ISO-8859-1", "cp1252"),
        ("windows-1252", "cp1252"),
        ("us-ascii", "cp1252"),
        ("utf-16", "utf-8"),
        ("shift_jis", "cp932"),
        ("euc-kr", "cp949"),
        ("gbk", "gb18030"),
        ("koi8-r", "koi8-r"),
        ("iso-8859-15", "iso8859-15"),
    ],
)
def test_whatwg_labels_map_as_the_standard_maps_them(label: str, codec: str) -> None:
    assert web_codec(label) == codec


@pytest.mark.parametrize(
    "label",
    [
        "unicode_escape",
        "raw_unicode_escape",
        "punycode",
        "idna",
        "rot13",
        "zlib_codec",
        "base64",
        "hex",
        "utf-7",
        "utf-32",
        "iso-2022-kr",
        "x-nonsense",
    ],
)
def test_a_charset_that_is_not_a_web_encoding_is_ignored(label: str) -> None:
    page = f'<html><head><meta charset="{label}"></head><body><p>café \\ud800 \\x00</p></body></html>'
    text = decode_text(page.encode(), source="page.html", html=True)
    assert "café \\ud800 \\x00" in text  # decoded as UTF-8, escapes left as written


def test_a_declared_web_charset_is_used() -> None:
    page = b'<meta http-equiv="Content-Type" content="text/html; charset=latin1"><p>caf\xe9 \x93x\x94</p>'
    assert "café “x”" in decode_text(page, source="page.html", html=True)


def test_a_punycode_page_decodes_in_linear_time() -> None:
    page = b'<html><head><meta charset="punycode"></head><body><p>Notice.</p>-' + b"ab" * 600_000 + b"</p>"
    began = time.monotonic()
    decode_text(page, source="page.html", html=True)
    assert time.monotonic() - began < 2.0


def test_a_document_over_the_passage_cap_is_refused_with_a_code(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loader_module, "MAX_PASSAGES", 50)
    body = "".join(f"# Section {i}\n{SENTENCE}\n\n" for i in range(60))
    with pytest.raises(DocumentTooComplex) as caught:
        load_bytes(body.encode(), "many.md")
    assert caught.value.code == "document_too_complex" and "50 passages" in caught.value.message
    assert caught.value.fix
    assert (
        len(load_bytes("".join(f"# S {i}\n{SENTENCE}\n" for i in range(50)).encode(), "ok.md").passages) == 50
    )
