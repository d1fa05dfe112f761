"""Both bundled organisations end to end: analyse, approve the root and the drafted system checks.

Acme has gaps planted in its notice and systems (fixtures/acme/expected_findings.yaml): every
one must be reported and nothing else of consequence. Globex is clean: no gap at all. Raw
personal data from the systems must not reach the state directory.
"""

from __future__ import annotations

import csv
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml
from _wardencli import ACME_POLICY, REPO, Warden

FIXTURES = REPO / "fixtures"
MATTERS = ("low", "medium", "high", "critical")
GAP_CATEGORIES = ("transparency", "disclosure")


@dataclass
class Org:
    w: Warden
    root: str
    findings: list[dict[str, Any]]
    child_steps: dict[str, dict[str, Any]]


def _analyse_and_approve(w: Warden, tenant: str, analyst: str, dpo: str, notice: Path, *extra: str) -> Org:
    done = w.run("analyse", str(notice), "--tenant", tenant, "--as", analyst, "--json", *extra)
    root = json.loads(done.out.splitlines()[0])["run_id"]
    w.run("approve", root, "--as", dpo, "--role", "dpo")
    w.run("approve", f"{root}.checks", "--as", dpo, "--role", "dpo")
    assert w.run_row(root)["status"] == "completed"
    rows = w.query(
        "SELECT code, severity, category, system_id, data_category, details_json, evidence_json "
        "FROM findings WHERE root_run_id = ? ORDER BY code, system_id, data_category",
        root,
    )
    findings = [{**r, "details": json.loads(r["details_json"])} for r in rows]
    return Org(w, root, findings, w.steps(f"{root}.checks"))


@pytest.fixture(scope="module")
def acme(tmp_path_factory: pytest.TempPathFactory) -> Org:
    w = Warden(home=tmp_path_factory.mktemp("acme-gaps") / "home", policy=ACME_POLICY)
    return _analyse_and_approve(w, "acme", "ana@acme", "dora@acme", FIXTURES / "acme" / "notice.md")


@pytest.fixture(scope="module")
def globex(tmp_path_factory: pytest.TempPathFactory) -> Org:
    w = Warden(home=tmp_path_factory.mktemp("globex-gaps") / "home", policy=ACME_POLICY)
    runbook = str(FIXTURES / "globex" / "review.yaml")
    notice = FIXTURES / "globex" / "notice.md"
    return _analyse_and_approve(w, "globex", "gil@globex", "gwen@globex", notice, "--runbook", runbook)


def _matches(finding: dict[str, Any], want: dict[str, str]) -> bool:
    if finding["code"] != want["code"]:
        return False
    if "system" in want and finding["system_id"] != want["system"]:
        return False
    if "data_category" in want and not (finding["data_category"] or "").startswith(want["data_category"]):
        return False
    return (
        "recipient" not in want
        or want["recipient"].lower() in finding["details"].get("recipient", "").lower()
    )


def _gaps(org: Org) -> list[dict[str, Any]]:
    """Gaps of consequence: what the notice fails to disclose (scanner inventory is not a gap)."""
    return [f for f in org.findings if f["category"] in GAP_CATEGORIES and f["severity"] in MATTERS]


def test_the_planner_scans_every_acme_system_and_compares_them_with_the_notice(acme: Org) -> None:
    analysers = {s["analyser"] for s in acme.child_steps.values()}
    assert {"personal_data_scan", "third_party_scan", "disclosure_gap"} <= analysers
    scanned = {s["system_id"] for s in acme.child_steps.values() if s["system_id"]}
    assert scanned == {"crm", "webshop-src", "newsletter-export", "web-logs"}
    assert all(s["status"] == "completed" for s in acme.child_steps.values()), acme.child_steps


def test_every_planted_acme_gap_is_reported(acme: Org) -> None:
    expected = yaml.safe_load((FIXTURES / "acme" / "expected_findings.yaml").read_text())
    for want in [*expected["transparency"], *expected["gaps"]]:
        assert any(_matches(f, want) for f in acme.findings), f"missing planted gap {want}"


def test_acme_reports_nothing_of_consequence_beyond_the_planted_gaps(acme: Org) -> None:
    expected = yaml.safe_load((FIXTURES / "acme" / "expected_findings.yaml").read_text())
    wanted = [*expected["transparency"], *expected["gaps"]]
    unexpected = [f for f in _gaps(acme) if not any(_matches(f, w) for w in wanted)]
    assert unexpected == [], unexpected


def test_globex_is_clean(globex: Org) -> None:
    expected = yaml.safe_load((FIXTURES / "globex" / "expected_findings.yaml").read_text())
    assert expected == {"transparency": [], "gaps": []}
    assert _gaps(globex) == []
    scanned = {s["system_id"] for s in globex.child_steps.values() if s["system_id"]}
    assert scanned == {"globex-hr", "globex-payroll", "globex-portal"}
    # the scans did find personal data and recipients: clean means disclosed, not unseen
    assert any(f["code"].startswith("scan.") for f in globex.findings)


def _planted_values() -> set[str]:
    """Every raw personal value in the fixture systems that a leak would show."""
    values: set[str] = set()
    for db, query in [
        (
            FIXTURES / "acme" / "systems" / "crm.sqlite",
            "SELECT email, phone, date_of_birth, full_name FROM customers",
        ),
        (FIXTURES / "acme" / "systems" / "crm.sqlite", "SELECT medical_notes FROM support_tickets"),
        (
            FIXTURES / "globex" / "systems" / "hr.sqlite",
            "SELECT work_email, mobile_phone, bank_iban FROM employees",
        ),
    ]:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
            values |= {str(v) for row in con.execute(query) for v in row}
    with (FIXTURES / "acme" / "systems" / "exports" / "newsletter_subscribers.csv").open() as handle:
        values |= {row["email"] for row in csv.DictReader(handle)}
    return values


def test_no_raw_personal_value_from_the_systems_reaches_the_store(acme: Org, globex: Org) -> None:
    planted = _planted_values()
    assert len(planted) > 100
    for org in (acme, globex):
        db = org.w.home / "warden.duckdb"
        with duckdb.connect(str(db), read_only=True) as con:
            tables = [
                r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
            ]
            text = "\n".join(
                str(v) for t in tables for row in con.execute(f'SELECT * FROM "{t}"').fetchall() for v in row
            )
        raw = b"".join(p.read_bytes() for p in org.w.home.rglob("*") if p.is_file())
        leaked = sorted(v for v in planted if v in text or v.encode() in raw)
        assert leaked == [], f"raw values stored: {leaked[:5]}"
