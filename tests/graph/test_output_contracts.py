"""The executor checks each analyser's output against the schema its manifest declares."""

from __future__ import annotations

import pytest

from warden.schemas.outputs import OutputContractError, check_output

FINDING = {
    "id": "f1",
    "analyser": "a",
    "code": "x.y",
    "title": "t",
    "severity": "low",
    "category": "c",
    "message": "m",
}


def test_findings_output_returns_its_findings():
    (finding,) = check_output("findings", {"findings": [FINDING]})
    assert finding.id == "f1"


def test_a_system_scan_carrying_findings_hands_them_on():
    scan = {"system_id": "s", "system_type": "csv", "scanner": "x@1", "findings": [FINDING]}
    assert [f.code for f in check_output("system_scan", scan)] == ["x.y"]


def test_a_drafted_runbook_is_left_to_the_guard():
    assert check_output("runbook_definition", {"anything": True}) == []


@pytest.mark.parametrize(
    ("schema", "output", "where"),
    [
        ("findings", {"findings": [{"id": "only-an-id"}]}, "findings.0"),
        ("findings", {"findings": [], "raw_rows": ["a@b.example"]}, "raw_rows"),
        ("findings", ["not", "a", "mapping"], "<top>"),
        ("system_scan", {"system_id": "s"}, "system_type"),
        ("labelled_passages", None, "<top>"),
    ],
)
def test_output_that_breaks_its_contract_is_refused_with_where(schema, output, where):
    with pytest.raises(OutputContractError, match=f"first at {where}"):
        check_output(schema, output)
