"""Each loader on the bundled notices: headings, pages, offsets, order, chrome removal."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from warden.documents import load_bytes, load_document
from warden.schemas import Document

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
ALL = [
    "notices/northwind_health.pdf",
    "notices/brightleaf_books.html",
    "notices/kestrel_mobility.docx",
    "notices/tallow_and_finch.md",
    "notices/harbour_lane_dental.txt",
    "acme/notice.md",
]


def _passage_with(doc: Document, quote: str):
    hits = [p for p in doc.passages if quote in p.text]
    assert hits, f"no passage contains {quote!r}"
    return hits[0]


@pytest.mark.parametrize("rel", ALL)
def test_passage_offsets_slice_the_document_text_exactly(rel: str) -> None:
    doc = load_document(FIXTURES / rel)
    assert doc.text_chars == len(doc.text) > 0
    for i, p in enumerate(doc.passages):
        assert p.index == i
        assert doc.text[p.start : p.end] == p.text
        assert p.text == p.text.strip() and p.text
        assert len(p.text) <= 1500
    starts = [p.start for p in doc.passages]
    assert starts == sorted(starts)


@pytest.mark.parametrize("rel", ALL)
def test_passage_ids_are_sha_prefix_and_index_and_stable_across_loads(rel: str) -> None:
    path = FIXTURES / rel
    first, second = load_document(path), load_document(path)
    assert [p.id for p in first.passages] == [p.id for p in second.passages]
    assert first.id == __import__("hashlib").sha256(path.read_bytes()).hexdigest()
    assert all(p.id == f"{first.id[:12]}#{p.index}" for p in first.passages)


def test_expected_yaml_is_consistent_with_the_loaded_fixtures() -> None:
    """Every evidence quote for a present item sits inside one passage of its notice."""
    expected = yaml.safe_load((FIXTURES / "notices" / "expected.yaml").read_text())
    assert set(expected) == set(ALL)
    for rel, entry in expected.items():
        doc = load_document(FIXTURES / rel)
        assert doc.format == entry["format"], rel
        assert len(set(entry["present"]) | set(entry["missing"])) == 21, rel
        assert not set(entry["present"]) & set(entry["missing"]), rel
        assert set(entry["evidence"]) == set(entry["present"]), rel
        for quote in entry["evidence"].values():
            _passage_with(doc, quote)


def test_pdf_keeps_page_numbers_and_numbered_heading_path() -> None:
    doc = load_document(FIXTURES / "notices/northwind_health.pdf")
    assert doc.format == "pdf" and doc.pages == 4
    assert doc.title == "Northwind Health Privacy Notice"
    assert {p.page for p in doc.passages} == {1, 2, 3, 4}
    who = _passage_with(doc, "Northwind Health Limited is the controller")
    assert who.page == 1
    assert who.headings == ["Northwind Health Privacy Notice", "1. Who we are"]
    complain = _passage_with(doc, "lodge a complaint with the Information Commissioner")
    assert complain.page == 4
    assert complain.headings[-2:] == ["14. Your rights", "14.8 Right to complain"]


def test_pdf_drops_running_footer_and_page_numbers() -> None:
    doc = load_document(FIXTURES / "notices/northwind_health.pdf")
    assert "Page 1 of 4" not in doc.text
    assert "Northwind Health - Northwind Health Privacy Notice" not in doc.text


def test_pdf_paragraph_broken_across_pages_stays_one_passage() -> None:
    doc = load_document(FIXTURES / "notices/northwind_health.pdf")
    recipients = _passage_with(doc, "Recipients include the clinicians")
    assert recipients.text.endswith("where the law requires us to.")
    assert not any(p.text[0].islower() for p in doc.passages)


def test_html_drops_nav_header_footer_scripts_and_styles() -> None:
    doc = load_document(FIXTURES / "notices/brightleaf_books.html")
    assert doc.format == "html"
    assert doc.title == "Brightleaf Books Privacy Policy"
    for chrome in ("Gift cards", "Basket (0)", "All rights reserved", "dataLayer", "font-family", "10% off"):
        assert chrome not in doc.text
    transfers = _passage_with(doc, "newsletter service is based in the United States")
    assert transfers.headings == ["Brightleaf Books Privacy Policy", "International transfers"]
    assert transfers.page is None


def test_html_heading_inside_article_header_is_kept() -> None:
    html = (
        b"<html><body><header><nav>Home Shop</nav></header><article><header><h1>Notice</h1>"
        b"</header><h2>Data</h2><p>We collect your name and email address to send you orders "
        b"and answer your questions.</p></article><footer>Copyright</footer></body></html>"
    )
    doc = load_bytes(html, "page.html")
    assert [p.headings for p in doc.passages] == [["Notice", "Data"]]
    assert "Home Shop" not in doc.text and "Copyright" not in doc.text


def test_docx_keeps_heading_styles_and_tables_in_document_order() -> None:
    doc = load_document(FIXTURES / "notices/kestrel_mobility.docx")
    assert doc.format == "docx" and doc.title == "Kestrel Mobility Privacy Notice"
    intro = doc.text.index("The table below sets out the purposes")
    header = doc.text.index("Purpose | Legal basis")
    first_row = doc.text.index("Creating and managing your account | Performance of a contract")
    last_row = doc.text.index("Sending offers and ride credits by email or push notification | Consent")
    next_heading = doc.text.index("Our legitimate interests")
    assert intro < header < first_row < last_row < next_heading
    row = _passage_with(doc, "Detecting fraud, theft and damage to vehicles | Legitimate interests")
    assert row.headings == [
        "Kestrel Mobility Privacy Notice",
        "Why we process your data and on what legal basis",
    ]


def test_markdown_headings_form_the_path_and_inline_markup_is_stripped() -> None:
    md = (
        b"# Notice\n\n## Your rights\n\n### Access\n\nYou can ask for **a copy** of your data by "
        b"writing to [our privacy team](mailto:privacy@example.org) at any time you like.\n"
    )
    doc = load_bytes(md, "notice.md")
    assert doc.format == "markdown"
    (p,) = doc.passages
    assert p.headings == ["Notice", "Your rights", "Access"]
    assert "**" not in p.text and "](" not in p.text
    assert "ask for a copy of your data by writing to our privacy team" in p.text


def test_markdown_fixture_sections_are_headed() -> None:
    doc = load_document(FIXTURES / "notices/tallow_and_finch.md")
    retention = _passage_with(doc, "We keep order records for six years")
    assert retention.headings == ["Tallow & Finch Privacy Notice", "How long we keep it"]


def test_text_guesses_headings_from_title_like_lines() -> None:
    doc = load_document(FIXTURES / "notices/harbour_lane_dental.txt")
    assert doc.format == "text"
    assert doc.title == "HARBOUR LANE DENTAL PRACTICE"
    dpo = _passage_with(doc, "dpo@kernowcompliance.example")
    assert dpo.headings[-1] == "OUR DATA PROTECTION OFFICER"
    # wrapped lines are joined into one paragraph
    assert "data controller for the personal information" in dpo.text or "\n" not in dpo.text


def test_text_first_heading_before_any_paragraph_is_the_title_root() -> None:
    text = (
        b"Privacy at Fernhill\n\nHow we use your data\n\nWe use your data to deliver your orders "
        b"and to answer your questions about them.\n\nHow long we keep it\n\nWe keep order "
        b"records for six years because tax law requires it.\n"
    )
    doc = load_bytes(text, "notes.txt")
    assert doc.title == "Privacy at Fernhill"
    assert [p.headings for p in doc.passages] == [
        ["Privacy at Fernhill", "How we use your data"],
        ["Privacy at Fernhill", "How long we keep it"],
    ]


def test_text_sentences_are_not_mistaken_for_headings() -> None:
    text = b"Notice\n\nWe collect your name.\n\nWe share it with couriers.\n"
    doc = load_bytes(text, "n.txt")
    assert [p.text for p in doc.passages] == ["We collect your name.\n\nWe share it with couriers."]
