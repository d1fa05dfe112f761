"""The transparency check: present items cite passages, missing ones raise graded findings."""

from __future__ import annotations

import pytest
from warden_analysers.gdpr_transparency.analyser import finding_id, run
from warden_analysers.gdpr_transparency.catalogue import load_catalogue

from warden.errors import LoadError
from warden.schemas.practices import GDPR_ITEMS, TransparencyReport


def _labelled(passages: list[tuple[str, list[str]]], doc_id: str = "d" * 64) -> dict:
    rows = []
    for index, (text, labels) in enumerate(passages):
        rows.append(
            {
                "id": f"{doc_id[:8]}#{index}",
                "index": index,
                "text": text,
                "headings": [],
                "labels": [
                    {
                        "label": label,
                        "confidence": 0.9,
                        "evidence": [
                            {"rule": f"{label}.test", "start": 0, "end": len(text[:5]), "quote": text[:5]}
                        ],
                    }
                    for label in labels
                ],
            }
        )
    return {"document_id": doc_id, "document_name": "notice.txt", "labeller": "rules@test", "passages": rows}


def _report(passages: list[tuple[str, list[str]]], **config: str) -> TransparencyReport:
    return TransparencyReport.model_validate(run({"practices": _labelled(passages)}, config))


def test_present_items_list_the_passages_that_show_them() -> None:
    report = _report(
        [
            ("Acme Ltd runs this app.", ["controller_identity"]),
            ("Acme Ltd is the controller.", ["controller_identity"]),
        ]
    )
    item = next(i for i in report.items if i.item == "controller_identity")
    assert item.status == "present"
    assert item.passage_ids == ["dddddddd#0", "dddddddd#1"]


def test_every_missing_item_gets_one_finding_with_its_article() -> None:
    report = _report([("We use data to run the app.", ["processing_purpose"])])
    missing = set(report.missing())
    assert missing == set(GDPR_ITEMS) - {"processing_purpose"}
    assert {f.details["item"] for f in report.findings} == missing
    by_item = {f.details["item"]: f for f in report.findings}
    assert by_item["controller_identity"].article == "GDPR Art. 13(1)(a), 14(1)(a)"
    assert by_item["retention"].code == "gdpr.missing.retention"


def test_severity_reflects_how_much_an_item_matters() -> None:
    by_item = {f.details["item"]: f for f in _report([]).findings}
    for item in ("controller_identity", "processing_purpose", "legal_basis", "right_access"):
        assert by_item[item].severity == "high"
    assert by_item["dpo_contact"].severity == "low"
    assert by_item["automated_decision_making"].severity == "low"
    assert by_item["dpo_contact"].details["conditional"] is True


def test_conditional_item_is_raised_when_the_notice_shows_its_condition() -> None:
    quiet = {f.details["item"]: f for f in _report([]).findings}
    assert quiet["right_withdraw_consent"].severity == "medium"
    shown = _report([("We process your data based on your consent.", ["legal_basis"])])
    finding = next(f for f in shown.findings if f.details["item"] == "right_withdraw_consent")
    assert finding.severity == "high"
    assert finding.evidence[0].passage_id == "dddddddd#0"


def test_article_scope_skips_items_of_the_other_article() -> None:
    report = _report([], article="13")
    status = {i.item: i.status for i in report.items}
    assert status["data_source"] == "not_applicable"
    assert status["statutory_requirement"] == "missing"
    assert "data_source" not in {f.details["item"] for f in report.findings}
    assert _report([], article="14").items[17].status == "not_applicable"  # statutory_requirement


def test_finding_ids_are_deterministic_and_distinct() -> None:
    first = [f.id for f in _report([]).findings]
    again = [f.id for f in _report([]).findings]
    assert first == again
    assert len(set(first)) == len(first)
    assert finding_id("d" * 64, "retention") != finding_id("e" * 64, "retention")


def test_catalogue_covers_every_item_once() -> None:
    assert sorted(s.item for s in load_catalogue().items) == sorted(GDPR_ITEMS)


@pytest.mark.parametrize(
    ("inputs", "config", "needle"),
    [
        ({}, {}, "exactly one labelled_passages"),
        ({"practices": {"passages": [{"id": 3}]}}, {}, "not labelled passages"),
        ({"practices": _labelled([])}, {"article": "15"}, "'13', '14' or 'both'"),
        ({"practices": _labelled([])}, {"mode": "x"}, "unknown config keys"),
    ],
)
def test_bad_inputs_are_clear_errors(inputs: dict, config: dict, needle: str) -> None:
    with pytest.raises(LoadError, match=needle):
        run(inputs, config)
