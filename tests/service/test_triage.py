"""Triage that sticks (issue 18): a fingerprint per finding, verdicts kept by fingerprint and
carried to later runs of the tenant, stale once the evidence changes, audited, and allowed
only to the roles the run's bound policy names; `diff` compares two runs by fingerprint."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _acme_tree import Acme, acme_copy

from warden.errors import UsageError
from warden.service import NotFound, RunRefused, Service, UnknownFinding
from warden.store import Store
from warden.store.audit import verify_chain
from warden.store.fingerprints import evidence_hash, fingerprint
from warden.testing import refill_database, scratch_database

EMAIL_CODE = "scan.personal_data"


def _by_fp(rows: list[dict]) -> dict[str, dict]:
    return {r["fingerprint"]: r for r in rows}


def _newsletter(rows: list[dict], category: str) -> dict:
    (found,) = [
        r
        for r in rows
        if r["code"] == EMAIL_CODE
        and r["system_id"] == "newsletter-export"
        and r["data_category"] == category
    ]
    return found


def _rewrite_newsletter(systems: Path) -> None:
    """Other subscribers (so the masked examples differ) and no signup_ip column."""
    path = systems / "exports" / "newsletter_subscribers.csv"
    with path.open() as handle:
        rows = list(csv.DictReader(handle))
    with path.open("w", newline="") as handle:
        out = csv.DictWriter(handle, ["email", "first_name", "subscribed_at"])
        out.writeheader()
        for i, row in enumerate(rows):
            out.writerow(
                {
                    "email": f"zed.quinn{i}@zmail.org",
                    "first_name": "Zed",
                    "subscribed_at": row["subscribed_at"],
                }
            )


@pytest.fixture(scope="module")
def one_tree(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Acme, str]]:
    """One completed tree; with WARDEN_TEST_LEDGER=postgres its ledger is a database each test
    gets a copy of (as it gets a copy of the state directory)."""
    with contextlib.ExitStack() as stack:
        if os.environ.get("WARDEN_TEST_LEDGER") == "postgres":
            url = stack.enter_context(scratch_database("warden_triage"))
            stack.enter_context(pytest.MonkeyPatch.context()).setenv("WARDEN_LEDGER_URL", url)
            _TEMPLATE["url"] = url
        acme = acme_copy(tmp_path_factory.mktemp("triage") / "acme")
        yield acme, acme.completed()


_TEMPLATE: dict[str, str] = {}
"""The prepared ledger's database (WARDEN_TEST_LEDGER=postgres)."""


def _copy(one_tree: tuple[Acme, str], tmp_path: Path) -> tuple[Acme, str]:
    acme, run = one_tree
    home = tmp_path / "home"
    shutil.copytree(acme.home, home)
    if "url" in _TEMPLATE:  # this test's fresh database becomes a copy of the prepared one
        refill_database(os.environ["WARDEN_LEDGER_URL"], _TEMPLATE["url"])
    return Acme(acme.base, acme.policy, acme.notice, acme.systems, home), run


def test_the_fingerprint_names_the_finding_not_the_run() -> None:
    base = dict(
        tenant="acme",
        analyser="personal_data_scan",
        code=EMAIL_CODE,
        system_id="crm",
        data_category="user.contact.email",
        details={"matches": 3},
    )
    one = fingerprint(**base, evidence=[{"location": "customers.email", "quote": "a***"}])
    # other evidence at the same column: the same finding
    assert one == fingerprint(**base, evidence=[{"location": "customers.email", "quote": "b***"}])
    assert one != fingerprint(**base, evidence=[{"location": "customers.email2"}])
    assert one != fingerprint(**{**base, "tenant": "globex"}, evidence=[{"location": "customers.email"}])
    # a notice finding citing nothing is about the run's documents (their content hashes)
    notice = dict(
        tenant="acme",
        analyser="gdpr_transparency",
        code="gdpr.missing.retention",
        system_id=None,
        data_category=None,
        details={"item": "retention"},
        evidence=[],
    )
    assert fingerprint(**notice, run_documents=["a" * 64]) != fingerprint(**notice, run_documents=["b" * 64])
    # the display name of a document is not evidence
    assert evidence_hash([], {"item": "x", "document": "a.md"}) == evidence_hash(
        [], {"item": "x", "document": "b.md"}
    )
    assert evidence_hash([{"quote": "a"}], {}) != evidence_hash([{"quote": "b"}], {})


def test_triage_carries_over_until_the_evidence_changes(tmp_path: Path) -> None:
    acme = acme_copy(tmp_path / "acme")
    first = acme.completed()
    service = acme.service()
    dora = service.principal("dora@acme")
    rows = service.findings(dora, first)
    assert all(r["fingerprint"].startswith("fp-") and r["triage"] is None for r in rows)
    assert len(_by_fp(rows)) == len(rows)  # one fingerprint per finding
    email = _newsletter(rows, "user.contact.email")
    ip = _newsletter(rows, "user.device.ip_address")
    retention = next(r for r in rows if r["code"] == "gdpr.missing.retention")

    service.triage(dora, email["finding_id"], "false_positive", "seeded test addresses", run_id=first)
    service.triage(dora, retention["finding_id"], "fixed", "notice revised in CMS")
    shown = _by_fp(service.findings(dora, first))
    assert shown[email["fingerprint"]]["triage"]["state"] == "false_positive"
    assert shown[email["fingerprint"]]["triage"]["who"] == "dora@acme"
    assert shown[email["fingerprint"]]["triage"]["why"] == "seeded test addresses"
    assert shown[email["fingerprint"]]["triage"]["status"] == "applies"
    assert shown[retention["fingerprint"]]["suppressed"]  # fixed: hidden in the run it was marked on
    hidden = {r["fingerprint"] for r in service.findings(dora, first, hide_suppressed=True)}
    assert email["fingerprint"] not in hidden and ip["fingerprint"] in hidden

    second = acme.completed()  # the same notice and systems: the same fingerprints
    later = _by_fp(service.findings(dora, second))
    assert set(later) == set(shown)
    assert later[email["fingerprint"]]["triage"]["status"] == "applies"
    assert later[email["fingerprint"]]["suppressed"]
    # marked fixed, found again with the same evidence by a later run: the fix did not take
    assert later[retention["fingerprint"]]["triage"]["status"] == "reopened"
    assert not later[retention["fingerprint"]]["suppressed"]
    diff = service.diff(dora, first, second)
    assert diff["new"] == [] and diff["resolved"] == []
    assert [e["fingerprint"] for e in diff["suppressed"]] == [email["fingerprint"]]
    assert len(diff["unchanged"]) == len(shown) - 1

    _rewrite_newsletter(acme.systems)
    third = acme.completed()
    latest = _by_fp(service.findings(dora, third))
    assert latest[email["fingerprint"]]["triage"]["status"] == "stale"
    assert not latest[email["fingerprint"]]["suppressed"]
    assert ip["fingerprint"] not in latest
    diff = service.diff(dora, second, third)
    assert ip["fingerprint"] in {e["fingerprint"] for e in diff["resolved"]}
    changed = {e["fingerprint"]: e for e in diff["unchanged"]}
    assert changed[email["fingerprint"]]["evidence_changed"] is True
    assert email["fingerprint"] not in {e["fingerprint"] for e in diff["suppressed"]}


def test_triage_is_audited_and_kept_by_tenant(one_tree: tuple[Acme, str], tmp_path: Path) -> None:
    acme, run = _copy(one_tree, tmp_path)
    service = acme.service()
    dora = service.principal("dora@acme")
    finding = next(r for r in service.findings(dora, run) if r["code"] == "gap.undisclosed_recipient")
    service.triage(dora, finding["finding_id"], "accepted_risk", "DPA signed, SCCs in place")
    service.triage(dora, finding["finding_id"], "false_positive", "not loaded in production")
    store = Store(acme.home / "warden.duckdb")
    events = store.query(
        "SELECT actor, payload_json FROM audit_events WHERE event = 'finding_triaged' ORDER BY seq"
    )
    payloads = [json.loads(e["payload_json"]) for e in events]
    assert [p["mark"] for p in payloads] == ["accepted_risk", "false_positive"]
    assert payloads[1]["previous"] == "accepted_risk"
    assert all(e["actor"] == "dora@acme" for e in events)
    assert payloads[0]["fingerprint"] == finding["fingerprint"]
    kept = store.query("SELECT tenant, state, who, auth, evidence_hash FROM triage")
    assert kept == [
        {
            "tenant": "acme",
            "state": "false_positive",
            "who": "dora@acme",
            "auth": "asserted",
            "evidence_hash": finding["evidence_hash"],
        }
    ]
    with store.connect(read_only=True) as con:
        assert verify_chain(con, "acme").ok


def test_only_the_bound_policys_triage_roles_may_triage(one_tree: tuple[Acme, str], tmp_path: Path) -> None:
    acme, run = _copy(one_tree, tmp_path)
    service = acme.service()
    finding = service.findings(service.principal("dora@acme"), run)[0]
    with pytest.raises(RunRefused) as refused:
        service.triage(service.principal("ana@acme"), finding["finding_id"], "fixed", "done")
    assert refused.value.code == "forbidden"
    # another tenant's user: exactly what an unknown finding or run answers
    gwen = service.principal("gwen@globex")
    with pytest.raises(UnknownFinding) as theirs:
        service.triage(gwen, finding["finding_id"], "fixed", "x")
    with pytest.raises(UnknownFinding) as ghost:
        service.triage(gwen, "gdpr-00000000000000000000", "fixed", "x")
    assert str(theirs.value).replace(finding["finding_id"], "F") == str(ghost.value).replace(
        "gdpr-00000000000000000000", "F"
    )
    with pytest.raises(NotFound):
        service.triage(gwen, finding["finding_id"], "fixed", "x", run_id=run)
    with pytest.raises(NotFound):
        service.diff(gwen, run, run)
    with pytest.raises(UsageError):
        service.triage(service.principal("dora@acme"), finding["finding_id"], "wontfix", "x")
    with pytest.raises(UsageError):
        service.triage(service.principal("dora@acme"), finding["finding_id"], "fixed", "  ")


def test_a_triage_right_revoked_since_the_run_was_requested_no_longer_triages(
    one_tree: tuple[Acme, str], tmp_path: Path
) -> None:
    """A verdict carries over to the tenant's later runs, so it needs the right under the policy
    in force as well as under the run's own: dora, demoted since, may no longer triage."""
    acme, run = _copy(one_tree, tmp_path)
    service = acme.service()
    finding = service.findings(service.principal("dora@acme"), run)[0]
    changed = yaml.safe_load(acme.policy.read_text())
    changed["tenants"]["acme"]["users"]["dora@acme"]["roles"] = ["analyst"]
    changed["tenants"]["acme"]["users"]["adam@acme"]["roles"] = ["admin", "dpo"]
    demoted = tmp_path / "demoted.yaml"
    demoted.write_text(yaml.safe_dump(changed, sort_keys=False))
    service.apply_policy(service.principal("adam@acme"), demoted, "dora moves to analysis")
    fresh = Service(acme.home)
    with pytest.raises(RunRefused) as refused:
        fresh.triage(fresh.principal("dora@acme"), finding["finding_id"], "false_positive", "not ours")
    assert refused.value.code == "forbidden"
    with Store(acme.home / "warden.duckdb").connect(read_only=True) as con:
        assert not con.execute("SELECT count(*) FROM triage").fetchone()[0]


def test_triage_roles_widen_who_may_triage(tmp_path: Path) -> None:
    acme = acme_copy(tmp_path / "acme", triage_roles=["analyst", "dpo"])
    run = acme.completed()
    service = acme.service()
    ana = service.principal("ana@acme")
    finding = service.findings(ana, run)[0]
    shown = service.triage(ana, finding["finding_id"], "accepted_risk", "known, tracked in JIRA-12")
    assert shown["triage"]["who"] == "ana@acme"
