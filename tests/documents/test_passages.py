"""Passage splitting: tiny fragments merge, long paragraphs split at sentence ends."""

from __future__ import annotations

from warden.documents import load_bytes
from warden.documents.blocks import Block
from warden.documents.passages import MAX_CHARS, build_passages


def test_long_paragraph_splits_at_sentence_boundaries_under_the_limit() -> None:
    sentence = "We process your personal data only for the purposes described in this notice. "
    text, passages = build_passages([Block("para", sentence * 60)], "a" * 64)
    assert len(passages) > 1
    for p in passages:
        assert len(p.text) <= MAX_CHARS
        assert p.text.endswith(".")
        assert p.text.startswith("We process")
        assert text[p.start : p.end] == p.text


def test_sentence_longer_than_the_limit_is_cut_at_a_space() -> None:
    words = "word " * 700
    text, passages = build_passages([Block("para", words)], "b" * 64)
    assert all(len(p.text) <= MAX_CHARS and text[p.start : p.end] == p.text for p in passages)
    assert " ".join(p.text for p in passages).split() == words.split()


def test_tiny_fragments_merge_under_the_same_heading_but_not_across_headings() -> None:
    blocks = [
        Block("heading", "What we collect", level=1),
        Block("para", "Your name."),
        Block("para", "Your email address."),
        Block("heading", "Why", level=1),
        Block("para", "To deliver orders."),
    ]
    text, passages = build_passages(blocks, "c" * 64)
    assert [p.text for p in passages] == ["Your name.\n\nYour email address.", "To deliver orders."]
    assert [p.headings for p in passages] == [["What we collect"], ["Why"]]
    assert text.startswith("What we collect\n\nYour name.")


def test_headings_are_context_not_passages() -> None:
    doc = load_bytes(b"# Title\n\n## Section\n\nBody text of the section that is long enough.\n", "x.md")
    assert [p.text for p in doc.passages] == ["Body text of the section that is long enough."]
    assert "Title" in doc.text and "Section" in doc.text


def test_nested_heading_levels_pop_back_to_their_parent() -> None:
    md = (
        b"# A\n\n## B\n\n### C\n\nUnder C, long enough text here.\n\n## D\n\nUnder D, long enough text too.\n"
    )
    doc = load_bytes(md, "x.md")
    assert [p.headings for p in doc.passages] == [["A", "B", "C"], ["A", "D"]]
