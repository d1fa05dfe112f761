"""Document sets (issue 18): several documents read as one notice. Completeness is judged over
the set, a reference in one document to another of the set is resolved to it, references to
documents outside the set stay "deferred to <name>" (info), and every citation names its
document."""

from __future__ import annotations

from pathlib import Path

import pytest
from warden_analysers.gdpr_transparency.analyser import check, run
from warden_analysers.gdpr_transparency.references import Reference, match_document
from warden_analysers.policy_practices.analyser import label_document

from warden.documents import load_document
from warden.documents.sets import combine, display_name, set_id
from warden.errors import UsageError
from warden.schemas.document import Document, DocumentPart
from warden.schemas.practices import TransparencyReport

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "transparency"
PRODUCT = FIXTURES / "lumen_notes_product_notice.md"
MAIN = FIXTURES / "sets" / "lumen-privacy-statement.md"
SPARSE_MAIN = FIXTURES / "lumen_privacy_statement.md"
"""The older main statement fixture: no DPO, transfers or legitimate interests of its own."""


def _check(*paths: Path) -> tuple[Document, TransparencyReport]:
    document = combine([load_document(p) for p in paths])
    return document, check(label_document(document))


def _items(report: TransparencyReport) -> dict[str, str]:
    return {i.item: i.status for i in report.items}


def test_a_product_notice_and_its_main_policy_are_one_notice() -> None:
    document, report = _check(PRODUCT, MAIN)
    main = load_document(MAIN)
    assert [d.name for d in report.documents] == [
        "lumen_notes_product_notice.md",
        "lumen-privacy-statement.md",
    ]
    statuses = _items(report)
    assert "deferred" not in statuses.values() and "missing" not in statuses.values()
    # what the product notice sends the reader away for is present, cited from the main policy
    by_item = {i.item: i for i in report.items}
    for item in ("right_access", "recipients", "retention", "controller_contact", "dpo_contact"):
        assert by_item[item].status == "present"
        assert by_item[item].documents == ["lumen-privacy-statement.md"]
        assert all(pid in {p.id for p in main.passages} for pid in by_item[item].passage_ids)
    # no deferral finding is left; the references say which document of the set they name
    assert not [f for f in report.findings if f.code.startswith("gdpr.deferred.")]
    assert {(r.document, r.resolved_to, r.resolved_document_id) for r in report.references} == {
        ("lumen_notes_product_notice.md", "lumen-privacy-statement.md", main.id)
    }
    assert report.document_id == document.id == set_id([main.id, load_document(PRODUCT).id])


def test_the_product_notice_alone_defers_to_its_main_policy_at_info_severity() -> None:
    _, report = _check(PRODUCT)
    deferred = [f for f in report.findings if f.code.startswith("gdpr.deferred.")]
    assert {f.details["item"] for f in deferred} >= {"right_access", "recipients", "retention"}
    for finding in deferred:
        assert finding.severity == "info"
        assert finding.title.startswith("Deferred to Lumen Privacy Statement")
        (evidence,) = finding.evidence  # the reference sentence is the evidence
        assert "Lumen Privacy Statement" in (evidence.quote or "")
        assert evidence.document_id == load_document(PRODUCT).id
    assert not [f for f in report.findings if f.code.startswith("gdpr.missing.")]


def test_a_referenced_document_of_the_set_that_is_silent_too_makes_the_item_missing() -> None:
    _, report = _check(PRODUCT, SPARSE_MAIN)
    statuses = _items(report)
    assert statuses["right_access"] == "present" and statuses["dpo_contact"] == "missing"
    finding = next(f for f in report.findings if f.code == "gdpr.missing.dpo_contact")
    assert finding.details["referenced"] == "Lumen Privacy Statement"
    assert "lumen_notes_product_notice.md, lumen_privacy_statement.md" in finding.message
    assert "which is in the set and does not disclose it either" in finding.message


def test_a_reference_to_a_document_outside_the_set_stays_deferred(tmp_path: Path) -> None:
    cookies = tmp_path / "lumen-cookie-notes.md"
    cookies.write_text(
        "# Lumen Notes cookie notes\n\nThe Lumen Notes website sets no cookies of its own. "
        "For how long we keep data and who receives it, see our Cookie Policy.\n",
        encoding="utf-8",
    )
    _, report = _check(PRODUCT, cookies)
    deferred = {f.details["item"]: f for f in report.findings if f.code.startswith("gdpr.deferred.")}
    assert deferred, "the Lumen Privacy Statement is not in the set: its items stay deferred"
    assert {f.details["deferred_to"] for f in deferred.values()} == {"Lumen Privacy Statement"}
    # the cookie notes' own reference is found too, and names no document of the set either
    assert {r.name for r in report.references} == {"Lumen Privacy Statement", "Cookie Policy"}
    for finding in deferred.values():
        assert finding.severity == "info"
        assert "which is not in the set" in finding.message
        assert finding.details["referenced_in"] == "lumen_notes_product_notice.md"
    assert all(r.resolved_to is None for r in report.references)


def test_a_set_is_labelled_document_by_document_and_keeps_each_passages_document() -> None:
    product, main = load_document(PRODUCT), load_document(MAIN)
    document = combine([product, main])
    assert [p.document_id for p in document.passages] == [product.id] * len(product.passages) + [
        main.id
    ] * len(main.passages)
    assert all(document.text[p.start : p.end] == p.text for p in document.passages)
    labelled = label_document(document)
    assert {p.document_id for p in labelled.passages} == {product.id, main.id}
    assert [part.document_name for part in labelled.parts()] == [product.name, main.name]
    assert labelled.document_of(main.passages[0].id) == (main.id, main.name)


def test_one_document_is_not_a_set_and_the_same_document_twice_is_refused() -> None:
    product = load_document(PRODUCT)
    assert combine([product]) is product
    labelled = label_document(product)
    assert labelled.documents == [] and all(p.document_id is None for p in labelled.passages)
    with pytest.raises(UsageError) as refused:
        combine([product, product])
    assert refused.value.code == "duplicate_document" and refused.value.fix


def test_the_set_id_does_not_depend_on_the_order_given() -> None:
    product, main = load_document(PRODUCT), load_document(MAIN)
    assert combine([product, main]).id == combine([main, product]).id
    assert combine([product, main]).name == "lumen_notes_product_notice.md (+1)"


def _ref(key: str, kind: str = "privacy", url: str | None = None) -> Reference:
    return Reference(
        name=key.title(), key=key, kind=kind, url=url, passage_id="a#0", quote="", covers=frozenset()
    )


def _part(name: str, title: str | None = None, ident: str | None = None) -> DocumentPart:
    return DocumentPart(id=ident or name, name=name, title=title, format="markdown")


@pytest.mark.parametrize(
    ("reference", "documents", "expected"),
    [
        # by title, whatever the file is called
        (
            _ref("lumen privacy statement"),
            [_part("statement.pdf", "Lumen Privacy Statement")],
            "statement.pdf",
        ),
        # by the file's slug, an upload's generated prefix left out
        (
            _ref("lumen privacy statement"),
            [_part("0123456789abcdef0123456789abcdef--lumen-privacy-statement.md")],
            "0123456789abcdef0123456789abcdef--lumen-privacy-statement.md",
        ),
        # the owner left out on either side
        (_ref("privacy statement"), [_part("lumen_privacy_statement.docx")], "lumen_privacy_statement.docx"),
        (_ref("lumen privacy statement"), [_part("privacy-statement.md")], "privacy-statement.md"),
        # by the link's path
        (
            _ref("data protection notice", url="https://lumen.example/legal/privacy-statement.html"),
            [_part("privacy-statement.html", "Lumen")],
            "privacy-statement.html",
        ),
        # "see our Privacy Policy" with one privacy document in the set: that one
        (_ref("privacy policy"), [_part("notes.md", "Lumen Privacy Statement")], "notes.md"),
        # a cookie policy is not the privacy statement
        (_ref("cookie policy", kind="cookie"), [_part("lumen-privacy-statement.md")], None),
        # two privacy documents and no name that fits: neither is guessed
        (_ref("privacy policy"), [_part("a-privacy-notice.md"), _part("b-privacy-statement.md")], None),
        # the referring document itself is never the one it names
        (_ref("lumen privacy statement"), [_part("lumen-privacy-statement.md", ident="a")], None),
    ],
)
def test_a_reference_is_matched_to_a_document_of_the_set_by_name_title_or_link(
    reference: Reference, documents: list[DocumentPart], expected: str | None
) -> None:
    found = match_document(reference, [_part("notice.md", ident="a"), *documents], besides="a")
    assert (found.name if found else None) == expected


def test_display_name_drops_only_the_generated_upload_prefix() -> None:
    assert display_name("0123456789abcdef0123456789abcdef--policy.md") == "policy.md"
    assert display_name("my--policy.md") == "my--policy.md"


def test_the_analyser_contract_takes_a_set_as_its_labelled_passages() -> None:
    labelled = label_document(combine([load_document(PRODUCT), load_document(MAIN)]))
    out = TransparencyReport.model_validate(run({"practices": labelled.model_dump(mode="json")}, {}))
    assert len(out.documents) == 2 and "deferred" not in _items(out).values()


def test_the_scope_is_decided_over_the_set(tmp_path: Path) -> None:
    _, alone = _check(PRODUCT)
    assert alone.scope == "13"
    partners = tmp_path / "lumen-partner-data.md"
    partners.write_text(
        "# Lumen partner data\n\nWhere your employer buys Lumen licences for you, we receive your "
        "name, company and job title from your employer.\n",
        encoding="utf-8",
    )
    _, report = _check(PRODUCT, partners)
    assert report.scope == "both" and report.scope_decision is not None
    assert {e.article for e in report.scope_decision.evidence} == {"13", "14"}
    partner_passages = {p.id for p in load_document(partners).passages}
    assert any(e.passage_id in partner_passages for e in report.scope_decision.evidence if e.article == "14")
    # the Art. 14 items are checked now (the product notice defers what the set lacks)
    statuses = _items(report)
    assert statuses["data_source"] != "not_applicable" and statuses["data_categories"] != "not_applicable"
