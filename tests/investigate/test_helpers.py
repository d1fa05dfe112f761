"""The investigation helpers on their own, against the real state directory of conftest.py."""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import pytest
from _acme_runs import Investigated

from warden.errors import UsageError, WardenError
from warden.investigate import (
    approvals_timeline,
    cost_summary,
    evidence_of,
    execution_tree,
    findings,
    findings_by,
    format_tree,
    latest_root_run,
    open_store,
    passages,
    runbook_versions,
    severity_by_system,
    step_timings,
    transparency,
    version_diff,
    versions_of_run,
    walk,
)
from warden.investigate.source import Source


@pytest.fixture(scope="module")
def source(investigated: Investigated) -> Source:
    return open_store(investigated.home)


def test_open_store_takes_the_state_directory_or_the_file_or_warden_home(
    investigated: Investigated, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = investigated.home / "warden.duckdb"
    assert open_store(investigated.home).path == db
    assert open_store(db).path == db
    monkeypatch.setenv("WARDEN_HOME", str(investigated.home))
    assert open_store().path == db


def test_open_store_explains_a_missing_or_foreign_file(tmp_path: Path) -> None:
    with pytest.raises(WardenError) as missing:
        open_store(tmp_path / "nowhere")
    assert missing.value.code == "no_store" and "warden analyse" in (missing.value.fix or "")
    text = tmp_path / "notes.duckdb"
    text.write_text("not a database at all")
    with pytest.raises(WardenError) as not_duckdb:
        open_store(text)
    assert not_duckdb.value.code == "not_a_store"
    other = tmp_path / "other.duckdb"
    duckdb.connect(str(other)).close()
    with pytest.raises(WardenError) as foreign:
        open_store(other)
    assert foreign.value.code == "not_a_store" and "not a Warden database" in foreign.value.message


def test_latest_root_run_is_the_most_recent_analysis(investigated: Investigated, source: Source) -> None:
    assert latest_root_run(source) == investigated.second
    assert latest_root_run(source, tenant="acme") == investigated.second
    with pytest.raises(UsageError, match="no completed runs of tenant 'globex'"):
        latest_root_run(source, tenant="globex")


def test_an_unknown_run_id_is_a_usage_error_not_an_empty_answer(source: Source) -> None:
    for helper in (findings, execution_tree, approvals_timeline, transparency, cost_summary):
        with pytest.raises(UsageError) as info:
            helper(source, "run-doesnotexist")
        assert info.value.code == "unknown_run" and "run-doesnotexist" in info.value.message


def test_findings_by_severity_come_most_severe_first(investigated: Investigated, source: Source) -> None:
    assert findings_by(source, investigated.second, "severity") == [
        {"severity": "high", "findings": 1},
        {"severity": "medium", "findings": 1},
        {"severity": "low", "findings": 2},
    ]
    assert findings_by(source, investigated.first, "severity") == [{"severity": "medium", "findings": 1}]


def test_findings_by_category_and_system_put_the_scan_finding_under_the_scanned_system(
    investigated: Investigated, source: Source
) -> None:
    assert findings_by(source, investigated.second, "category") == [
        {"category": "test", "findings": 2},
        {"category": "transparency", "findings": 2},
    ]
    assert findings_by(source, investigated.second, "system") == [
        {"system": "(document)", "findings": 3},
        {"system": "crm", "findings": 1},
    ]
    assert severity_by_system(source, investigated.second) == {
        "(document)": {"high": 1, "medium": 1, "low": 1},
        "crm": {"low": 1},
    }
    with pytest.raises(UsageError, match="cannot group findings by 'colour'"):
        findings_by(source, investigated.second, "colour")  # type: ignore[arg-type]


def test_findings_of_a_child_run_exclude_its_parents(investigated: Investigated, source: Source) -> None:
    assert findings(source, f"{investigated.second}.checks") == []
    codes = [f["code"] for f in findings(source, investigated.second)]
    assert codes == [
        "gdpr.missing.right_withdraw_consent",
        "gdpr.missing.retention",
        "test.crm-export",
        "test.spend",
    ]


def test_execution_tree_nests_the_child_with_versions_costs_and_timings(
    investigated: Investigated, source: Source
) -> None:
    root = execution_tree(source, investigated.second)
    assert (root.runbook, root.approved_version, root.runbook_version, root.status) == (
        "privacy-policy-review",
        2,
        2,
        "completed",
    )
    assert [s.step_id for s in root.steps] == [
        "practices",
        "transparency",
        "plan",
        "crm-scan",
        "llm-spend",
        "checks",
    ]
    (child,) = root.children
    assert (child.run_id, child.depth, child.runbook, child.approved_version) == (
        f"{investigated.second}.checks",
        1,
        "acme-system-checks",
        1,
    )
    steps = {s.step_id: s for s in root.steps}
    assert steps["llm-spend"].cost_usd == pytest.approx(0.25)
    assert steps["crm-scan"].system_id == "crm"
    assert steps["checks"].child_run_id == child.run_id
    assert root.cost_usd == pytest.approx(0.25) and root.tree_cost_usd == pytest.approx(0.25)
    for run in walk(root):
        assert run.duration_s > 0
        assert all(s.duration_s and s.duration_s > 0 and s.started_at for s in run.steps)
    text = format_tree(root)
    assert f"    {child.run_id} acme-system-checks v1 [completed]" in text
    assert "crm-scan (wtest_scan on crm) completed" in text and "$0.2500" in text


def test_step_timings_list_every_analyser_step_in_the_order_it_ran(
    investigated: Investigated, source: Source
) -> None:
    timings = step_timings(source, investigated.second)
    assert [t["label"] for t in timings] == [
        "practices (policy_practices)",
        "transparency (gdpr_transparency)",
        "plan (policy_to_runbook)",
        "crm-scan (wtest_scan)",
        "llm-spend (wtest_costly)",
        "checks/practices (policy_practices)",
    ]
    started = [t["started_at"] for t in timings]
    assert started == sorted(started)
    assert all(t["duration_s"] > 0 for t in timings)


def test_approvals_timeline_shows_each_request_before_its_decision(
    investigated: Investigated, source: Source
) -> None:
    timeline = approvals_timeline(source, investigated.second)
    root, child = investigated.second, f"{investigated.second}.checks"
    assert [(e["run_id"], e["event"], e["actor"]) for e in timeline] == [
        (root, "requested", "ana@acme"),  # the run's requester, not the engine that asked
        (root, "approve", "dora@acme"),
        (child, "requested", "ana@acme"),
        (child, "approve", "dora@acme"),
    ]
    decision = timeline[1]
    assert (decision["role"], decision["runbook"], decision["version"]) == ("dpo", "privacy-policy-review", 2)
    assert decision["change_summary"] == "added step(s) crm-scan, llm-spend"
    assert decision["waited_s"] > 0 and decision["validation_ok"] is True
    assert [e["at"] for e in timeline] == sorted(e["at"] for e in timeline)


def test_version_diff_shows_what_version_two_added(investigated: Investigated, source: Source) -> None:
    assert [v["version_no"] for v in runbook_versions(source, "acme", "privacy-policy-review")] == [1, 2]
    change = version_diff(source, "acme", "privacy-policy-review")
    assert (change.old, change.new, change.summary) == (1, 2, "added step(s) crm-scan, llm-spend")
    assert change.diff.startswith("--- privacy-policy-review v1\n+++ privacy-policy-review v2\n")
    assert "+- id: crm-scan\n" in change.diff and "+  system: crm\n" in change.diff
    first = version_diff(source, "acme", "privacy-policy-review", new=1)
    assert first.old is None and first.summary == "first approved version: 4 step(s)"
    with pytest.raises(UsageError, match="has no version 7"):
        version_diff(source, "acme", "privacy-policy-review", new=7)
    with pytest.raises(UsageError, match="no approved versions of runbook 'nope'"):
        version_diff(source, "acme", "nope")


def test_versions_of_run_name_the_version_each_run_executed(
    investigated: Investigated, source: Source
) -> None:
    used = versions_of_run(source, investigated.second)
    assert [(u["runbook"], u["version"], u["approved_by"]) for u in used] == [
        ("privacy-policy-review", 2, "dora@acme"),
        ("acme-system-checks", 1, "dora@acme"),
    ]
    assert all(len(u["sha256"]) == 64 for u in used)


def test_evidence_of_a_conditional_finding_is_the_stored_passage_with_its_headings(
    investigated: Investigated, source: Source
) -> None:
    finding = next(f for f in findings(source, investigated.second) if f["code"].endswith("withdraw_consent"))
    (citation,) = evidence_of(source, investigated.second, finding["finding_id"])
    assert citation.headings == ["Acme Ltd Privacy Notice", "Our legal basis"]
    assert citation.document_name == "notice-revised.md"
    assert "your consent for marketing emails" in (citation.passage_text or "")
    assert citation.quote and citation.quote in (citation.passage_text or "")
    assert citation.where.startswith("notice-revised.md, Acme Ltd Privacy Notice › Our legal basis, passage ")
    (cited,) = passages(source, [citation.passage_id or ""], investigated.second)
    assert cited["text"] == citation.passage_text


def test_evidence_of_a_missing_item_is_empty_and_of_an_unknown_finding_an_error(
    investigated: Investigated, source: Source
) -> None:
    retention = next(
        f for f in findings(source, investigated.second) if f["code"] == "gdpr.missing.retention"
    )
    assert evidence_of(source, investigated.second, retention["finding_id"]) == []
    with pytest.raises(UsageError) as info:
        evidence_of(source, investigated.second, "no-such-finding")
    assert info.value.code == "unknown_finding"
    with pytest.raises(UsageError):  # a finding of another tree is not this run's evidence
        evidence_of(
            source, investigated.first, next(iter(findings(source, investigated.second)))["finding_id"]
        )


def test_transparency_table_marks_the_dropped_item_missing_and_cites_the_rest(
    investigated: Investigated, source: Source
) -> None:
    rows = {r["item"]: r for r in transparency(source, investigated.second)}
    assert len(rows) == 21
    assert (rows["right_withdraw_consent"]["status"], rows["right_withdraw_consent"]["severity"]) == (
        "missing",
        "high",
    )
    assert rows["retention"]["status"] == "missing" and rows["retention"]["passages"] == []
    present = [r for r in rows.values() if r["status"] == "present"]
    assert present and all(r["passages"] and r["severity"] is None for r in present)
    assert "privacy@acme-shop.example" in " ".join(p["text"] for p in rows["controller_contact"]["passages"])
    first = {r["item"]: r["status"] for r in transparency(source, investigated.first)}
    assert first["right_withdraw_consent"] == "present"


def test_cost_summary_totals_the_ledger_and_an_offline_run_costs_nothing(
    investigated: Investigated, source: Source
) -> None:
    costs = cost_summary(source, investigated.second)
    assert costs["total_usd"] == pytest.approx(0.25)
    assert costs["by_step"] == [{"run_id": investigated.second, "step_id": "llm-spend", "amount_usd": 0.25}]
    assert costs["by_kind"] == [{"kind": "test", "amount_usd": 0.25}]
    offline = cost_summary(source, investigated.first)
    assert offline["total_usd"] == 0 and offline["by_step"] == []


def test_the_helpers_leave_the_database_file_untouched(investigated: Investigated, source: Source) -> None:
    db = investigated.home / "warden.duckdb"
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    for run in (investigated.first, investigated.second):
        findings(source, run)
        execution_tree(source, run)
        approvals_timeline(source, run)
        transparency(source, run)
        cost_summary(source, run)
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
