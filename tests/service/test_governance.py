"""The attacks issue 15 measured on main, each now a test: a requester swapping in her own
policy to approve herself, a document from outside the tenant's roots, a run killed before its
first checkpoint, and an asserted identity deciding where the policy demands a signed-in one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from warden.service import DocumentRefused, PolicyMismatch, RunRefused, Service
from warden.store import Store, runs

REPO = Path(__file__).resolve().parents[2]
ACME = REPO / "fixtures" / "acme"
POLICY = ACME / "policy.yaml"
NOTICE = ACME / "notice.md"


def _warden(home: Path, *args: str, policy: Path | None = POLICY) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARDEN_") or k == "WARDEN_LEDGER_URL"}
    env.update(WARDEN_HOME=str(home), NO_COLOR="1", COLUMNS="200")
    if policy is not None:
        env["WARDEN_POLICY"] = str(policy)
    return subprocess.run(
        [sys.executable, "-m", "warden", *args], env=env, capture_output=True, text=True, timeout=300
    )


def _rows(home: Path, sql: str) -> list[dict]:
    return Store(home / "warden.duckdb").query(sql)


def test_a_requester_cannot_approve_her_own_run_under_a_policy_she_wrote(tmp_path: Path) -> None:
    home = tmp_path / "home"
    started = _warden(home, "analyse", str(NOTICE), "--tenant", "acme", "--as", "ana@acme", "--json")
    run_id = json.loads(started.stdout.splitlines()[-1])["run_id"]
    # her copy: she is dpo, self-approval is on, and Globex's HR database is "Acme's"
    forged = yaml.safe_load(POLICY.read_text())
    acme = forged["tenants"]["acme"]
    acme["users"]["ana@acme"]["roles"] = ["analyst", "dpo"]
    acme["approval"]["allow_self_approval"] = True
    acme["allowed_roots"] = [str(ACME / "systems"), str(REPO / "fixtures" / "globex" / "systems")]
    acme["systems"].append(
        {
            "id": "hr",
            "type": "sqlite",
            "location": str(REPO / "fixtures/globex/systems/hr.sqlite"),
            "owner": "x",
        }
    )
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump(forged, sort_keys=False))

    done = _warden(home, "approve", run_id, "--as", "ana@acme", "--role", "dpo", policy=other)
    assert done.returncode == 1, done.stderr
    assert "(policy_mismatch)" in done.stderr
    # without the forged file she is what the bound policy says: an analyst and the requester
    done = _warden(home, "approve", run_id, "--as", "ana@acme", "--role", "dpo", policy=None)
    assert done.returncode == 1 and "(refused)" in done.stderr, done.stderr
    assert _rows(home, f"SELECT status FROM runs WHERE run_id = '{run_id}'") == [
        {"status": "waiting_approval"}
    ]
    assert _rows(home, "SELECT * FROM approvals") == []
    # nor can she put it in force: only a policy admin may
    done = _warden(home, "policy", "apply", str(other), "--as", "ana@acme", policy=None)
    assert done.returncode == 2 and "(forbidden)" in done.stderr, done.stderr


def test_a_decision_is_checked_against_the_policy_the_run_was_bound_to(tmp_path: Path) -> None:
    svc = Service(tmp_path / "home", policy=POLICY)
    outcome = svc.start(svc.principal("ana@acme", writing=True), NOTICE, tenant="acme")
    # the admin then puts a policy in force under which dora is no longer the dpo
    changed = yaml.safe_load(POLICY.read_text())
    changed["tenants"]["acme"]["users"]["dora@acme"]["roles"] = ["analyst"]
    changed["tenants"]["acme"]["users"]["ana@acme"]["roles"] = ["dpo"]
    new = tmp_path / "new.yaml"
    new.write_text(yaml.safe_dump(changed, sort_keys=False))
    svc.apply_policy(svc.principal("adam@acme"), new, "reorganisation")
    fresh = Service(tmp_path / "home")
    # the run was requested under the old policy: dora still decides it, ana (requester) cannot
    with pytest.raises(RunRefused):
        fresh.decide(fresh.principal("ana@acme"), outcome.root_run_id, "approve", role="dpo")
    bound = fresh.decide(fresh.principal("dora@acme"), outcome.root_run_id, "approve", role="dpo")
    assert [w["run_id"] for w in bound.waiting] == [f"{outcome.root_run_id}.checks"]  # the child waits
    # and a presented policy that is not the bound one is refused
    presenting = Service(tmp_path / "home", policy=new)
    with pytest.raises(PolicyMismatch):
        presenting.decide(
            presenting.principal("dora@acme"), f"{outcome.root_run_id}.checks", "approve", role="dpo"
        )


def test_a_document_outside_the_tenants_roots_is_refused_and_nothing_of_it_is_stored(tmp_path: Path) -> None:
    payroll = tmp_path / "elsewhere" / "payroll.txt"  # another tenant's export, renamed
    payroll.parent.mkdir()
    payroll.write_text("Employee: Greta Globex\nIBAN: DE89 3704 0044 0532 0130 00\nSick leave: migraine\n")
    home = tmp_path / "home"
    done = _warden(home, "analyse", str(payroll), "--tenant", "acme", "--as", "ana@acme")
    assert done.returncode == 1, done.stderr
    assert "(document_outside_roots)" in done.stderr and "internal error" not in done.stderr
    raw = (home / "warden.duckdb").read_bytes() if (home / "warden.duckdb").exists() else b""
    assert b"Greta" not in raw and b"DE89" not in raw
    # a symlink inside the roots pointing outside is the same document: refused too
    link = ACME / "systems" / "payroll-link.txt"
    svc = Service(home, policy=POLICY)
    try:
        link.symlink_to(payroll)
        with pytest.raises(DocumentRefused):
            svc.start(svc.principal("ana@acme", writing=True), link, tenant="acme")
    finally:
        link.unlink(missing_ok=True)


def test_a_run_killed_before_its_first_checkpoint_restarts_from_its_recorded_request(tmp_path: Path) -> None:
    home = tmp_path / "home"
    svc = Service(home, policy=POLICY)
    ana = svc.principal("ana@acme", writing=True)
    policy = svc.policies.in_force(may_initialise=True)
    from warden.runbooks.load import read_runbook
    from warden.service import builtin_runbook

    request = {
        "document": str(NOTICE),
        "runbook": read_runbook(builtin_runbook("privacy-policy-review")).data,
    }
    # exactly what a process killed between its run row and its first checkpoint leaves behind:
    # the tree marked as this state directory's (its lock file, and on a shared ledger the host
    # named), which the service does before it writes the run row
    for root in ("run-killed00001", "run-killed00002"):
        svc.leases.mark_here(root)
    with svc.store.connect() as con:
        runs.create_run(
            con,
            runs.RunRow(
                "run-killed00001",
                "run-killed00001",
                None,
                None,
                0,
                "run-killed00001",
                "",
                "acme",
                "ana@acme",
                policy.sha256,
                request,
            ),
        )
        runs.create_run(
            con,
            runs.RunRow(
                "run-killed00002",
                "run-killed00002",
                None,
                None,
                0,
                "run-killed00002",
                "",
                "acme",
                "ana@acme",
                policy.sha256,
                None,
            ),
        )
    done = _warden(home, "resume", "run-killed00001", "--as", "ana@acme", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "waiting_approval"
    assert _rows(home, "SELECT count(*) AS n FROM run_documents WHERE run_id = 'run-killed00001'") == [
        {"n": 1}
    ]
    # a row with nothing to restart from says so, with a code, and changes nothing
    done = _warden(home, "resume", "run-killed00002", "--as", "ana@acme")
    assert done.returncode == 1 and "(run_not_restartable)" in done.stderr, done.stderr
    assert ana.user == "ana@acme"


def test_the_policy_can_demand_authenticated_approvers(tmp_path: Path) -> None:
    home = tmp_path / "home"
    svc = Service(home, policy=ACME / "policy-authenticated.yaml")
    outcome = svc.start(svc.principal("ana@acme", writing=True), NOTICE, tenant="acme")
    done = _warden(home, "approve", outcome.root_run_id, "--as", "dora@acme", "--role", "dpo", policy=None)
    assert done.returncode == 1, done.stderr
    assert "(authentication_required)" in done.stderr and "fix:" in done.stderr
    # the same person, authenticated (as the server will do it), may decide
    signed_in = Service(home).principal("dora@acme", "token")
    after = Service(home).decide(signed_in, outcome.root_run_id, "approve", role="dpo")
    assert [w["run_id"] for w in after.waiting] == [f"{outcome.root_run_id}.checks"]
    assert _rows(home, "SELECT auth FROM approvals") == [{"auth": "token"}]


def test_identifiers_in_document_text_are_masked_before_they_are_stored(tmp_path: Path) -> None:
    notice = ACME / "systems" / "tmp-notice-with-iban.md"
    body = (
        NOTICE.read_text()
        + "\n\nRefunds go to IBAN DE89 3704 0044 0532 0130 00 or card 4111 1111 1111 1111.\n"
    )
    home = tmp_path / "home"
    try:
        notice.write_text(body)
        svc = Service(home, policy=POLICY)
        svc.start(svc.principal("ana@acme", writing=True), notice, tenant="acme")
    finally:
        notice.unlink(missing_ok=True)
    stored = " ".join(r["text"] for r in _rows(home, "SELECT text FROM passages"))
    assert "DE89" not in stored and "4111" not in stored
    assert "•••• •••• •••• ••••" in stored  # masked in place: offsets still hold
    assert "privacy@acme" in stored or "@" in stored  # contact points are kept
    raw = (home / "warden.duckdb").read_bytes() if (home / "warden.duckdb").exists() else b""
    assert b"DE89 3704" not in raw and b"4111 1111" not in raw
