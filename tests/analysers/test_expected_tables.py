"""The transparency tables of the bundled and issue-18 fixture notices, compared with the
expected tables kept as data in fixtures/transparency/expected/ (one YAML file per notice; a
file listing ``documents`` is a document set read as one notice)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from warden_analysers.gdpr_transparency.analyser import check
from warden_analysers.policy_practices.analyser import label_document

from warden.documents import load_document
from warden.documents.sets import combine
from warden.schemas.practices import GDPR_ITEMS

REPO = Path(__file__).resolve().parents[2]
EXPECTED = sorted((REPO / "fixtures" / "transparency" / "expected").glob("*.yaml"))


def test_every_issue_18_fixture_has_an_expected_table() -> None:
    names = {path.stem for path in EXPECTED}
    assert {
        "acme_notice",
        "lumen_notes_product_notice",
        "quayside_bakery_art13",
        "fernhill_library_rights",
        "lumen_notes_set",
    } <= names


@pytest.mark.parametrize("expected_file", EXPECTED, ids=[p.stem for p in EXPECTED])
def test_the_transparency_table_is_the_expected_one(expected_file: Path) -> None:
    expected = yaml.safe_load(expected_file.read_text(encoding="utf-8"))
    assert set(expected["items"]) == set(GDPR_ITEMS), "an expected table lists every item once"
    paths = expected["documents"] if "documents" in expected else [expected["document"]]
    report = check(label_document(combine([load_document(REPO / p) for p in paths])))
    got = {
        item.item: f"deferred to {item.deferred_to}" if item.status == "deferred" else item.status
        for item in report.items
    }
    assert report.scope == expected["scope"]
    assert report.scope_decision is not None and report.scope_decision.decided_by == expected["decided_by"]
    differences = {k: (expected["items"][k], got[k]) for k in GDPR_ITEMS if expected["items"][k] != got[k]}
    assert not differences, f"item: (expected, got) {differences}"
    missing = {f.details["item"] for f in report.findings if f.code.startswith("gdpr.missing.")}
    assert missing == {k for k, v in expected["items"].items() if v == "missing"}
    if "references" in expected:  # a set: each reference resolved to the document it names
        assert {r.name: r.resolved_to for r in report.references} == expected["references"]
    if "cited_in" in expected:  # a set: the documents each present item is cited from
        cited = {item.item: item.documents for item in report.items if item.status == "present"}
        assert cited == expected["cited_in"]
