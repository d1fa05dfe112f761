"""An explicit `warden resume` on the wrong host. Two hosts (state directories of their own) share
one Postgres ledger; the embedded engine keeps a tree's checkpoints on the host that recorded
it. Host B resuming host A's tree would run it a second time from its request while A drives it
(or holds its pending decision): refused, naming A. A tree whose host is gone for good may be
taken over, with a reason, by an administrator of its tenant only: audited, naming both hosts,
who and why; it then completes on the new host, and the old host, should it come back, leaves it
alone. On the DuckDB ledger (one host) resume is as it was. The Postgres cases are skipped,
saying why, when no Postgres answers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from _acme_tree import ACME
from _ledgers import shared_postgres

from warden.errors import UsageError, WardenError
from warden.graph.recovery import CheckpointMissing
from warden.service import Service
from warden.service.errors import HostAlive, RunOnOtherHost

REASON = "host A's disk died; its state directory is lost"
RUNS = "SELECT run_id, status, claimed_by, updated_at FROM runs ORDER BY run_id"


@pytest.fixture
def shared(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh Postgres database the test's hosts share."""
    yield from shared_postgres(monkeypatch, "warden_resume_hosts")


@pytest.fixture(autouse=True)
def made() -> Iterator[list[Service]]:
    """The services a test made, their stores closed after it (before its database is dropped)."""
    _made.clear()
    yield _made
    for service in _made:
        service.store.close()
    _made.clear()


_made: list[Service] = []


def _hosts(tmp_path: Path, *names: str) -> list[Service]:
    hosts = [Service(tmp_path / name, policy=ACME / "policy.yaml") for name in names]
    _made.extend(hosts)
    return hosts


def _recorded(a: Service) -> str:
    """A tree host A recorded and never drove (A died before it did, or drives it now)."""
    return a.submit(a.principal("ana@acme", writing=True), ACME / "notice.md", tenant="acme").run_id


def _events(service: Service, event: str) -> list[dict[str, Any]]:
    found = service.store.query(
        "SELECT actor, run_id, payload_json FROM audit_events WHERE event = ? ORDER BY chain_no", [event]
    )
    return [{**row, "payload": json.loads(row["payload_json"])} for row in found]


def _complete(service: Service, outcome: Any) -> Any:
    dora = service.principal("dora@acme")
    while outcome.waiting:
        outcome = service.decide(dora, outcome.waiting[0]["run_id"], "approve", role="dpo")
    return outcome


def test_a_resume_on_another_host_is_refused_naming_the_host_of_the_tree(shared: str, tmp_path: Path) -> None:
    a, b = _hosts(tmp_path, "host-a", "host-b")
    recorded = _recorded(a)
    claimed = a.start(a.principal("ana@acme"), ACME / "notice.md", tenant="acme").root_run_id
    a.claim_decision(a.principal("dora@acme"), claimed, "approve", role="dpo")  # A carries it out
    before = b.store.query(RUNS)
    for root in (recorded, claimed):
        with pytest.raises(RunOnOtherHost) as refused:
            b.resume(b.principal("ana@acme"), root)
        assert refused.value.code == "run_on_other_host"
        assert a.leases.host_id in refused.value.message and str(a.leases.where) in refused.value.message
        assert "--take-over" in (refused.value.fix or "")
    assert b.store.query(RUNS) == before, "host B changed host A's runs"
    assert _events(b, "tree_taken_over") == []
    # host A resumes its own tree as before
    assert a.resume(a.principal("ana@acme"), recorded).status == "waiting_approval"


def test_a_take_over_is_refused_without_an_administrator_or_a_reason(shared: str, tmp_path: Path) -> None:
    a, b = _hosts(tmp_path, "host-a", "host-b")
    root = _recorded(a)
    before = b.store.query(RUNS)
    for user in ("ana@acme", "dora@acme"):  # an analyst, a DPO: no admin or operator role
        for from_host in (None, "host-x"):  # refused before the host named is looked at
            with pytest.raises(UsageError) as refused:
                b.resume(b.principal(user), root, take_over=REASON, from_host=from_host)
            assert refused.value.code == "forbidden", refused.value
    with pytest.raises(UsageError) as refused:
        b.resume(b.principal("adam@acme"), root, take_over="  ")
    assert refused.value.code == "reason_required"
    with pytest.raises(UsageError) as refused:  # A's own tree: nothing to take over
        a.resume(a.principal("adam@acme"), root, take_over=REASON)
    assert refused.value.code == "take_over_needless"
    assert b.store.query(RUNS) == before
    assert _events(b, "tree_taken_over") == []
    with pytest.raises(RunOnOtherHost):
        b.resume(b.principal("ana@acme"), root)


def test_another_tenants_user_taking_a_tree_over_gets_what_a_missing_run_answers(
    shared: str, tmp_path: Path
) -> None:
    a, b = _hosts(tmp_path, "host-a", "host-b")
    root = _recorded(a)
    before = b.store.query(RUNS)
    gwen = b.principal("gwen@globex")
    for from_host in (None, a.leases.host_id, "host-x"):  # naming a host reveals nothing either
        with pytest.raises(WardenError) as theirs:
            b.resume(gwen, root, take_over=REASON, from_host=from_host)
        with pytest.raises(WardenError) as missing:
            b.resume(gwen, "run-000000000000", take_over=REASON, from_host=from_host)
        assert (theirs.value.code, str(theirs.value).replace(root, "ID")) == (
            missing.value.code,
            str(missing.value).replace("run-000000000000", "ID"),
        )
    assert b.store.query(RUNS) == before and _events(b, "tree_taken_over") == []


def test_an_administrators_take_over_is_audited_the_tree_completes_and_the_old_host_leaves_it(
    shared: str, tmp_path: Path
) -> None:
    a, b = _hosts(tmp_path, "host-a", "host-b")
    root = _recorded(a)
    adam = b.principal("adam@acme")
    taken = b.resume(adam, root, take_over=REASON)
    assert taken.status == "waiting_approval", taken  # started again from its request, here
    [event] = _events(b, "tree_taken_over")
    assert event["actor"] == "adam@acme" and event["run_id"] == root
    payload = event["payload"]
    assert payload["previous_host"] == a.leases.host_id and payload["previous_home"] == a.leases.where
    assert payload["host"] == b.leases.host_id and payload["home"] == b.leases.where
    assert payload["by"] == "adam@acme" and payload["reason"] == REASON
    done = _complete(b, taken)
    assert done.status == "completed", done
    assert all(report.ok for report in b.verify_audit(b.principal("dora@acme")))
    # host A comes back: the tree is B's now, and over (resuming it only says so)
    assert a.in_flight() == []
    before = a.store.query(RUNS)
    assert a.resume(a.principal("ana@acme"), root).status == "completed"
    a.resume_orphan(root, actor="server@host")
    assert a.store.query(RUNS) == before


def test_a_running_tree_taken_over_is_left_by_the_old_hosts_orphan_sweep(shared: str, tmp_path: Path) -> None:
    """Taken over while running (its host died mid-run): the old host's sweep, on its return,
    no longer takes the tree for its own orphan."""
    a, b = _hosts(tmp_path, "host-a", "host-b")
    root = _recorded(a)
    assert [t.root_run_id for t in a.in_flight()] == [root]  # A's orphan, until taken over
    taken = b.resume(b.principal("adam@acme"), root, take_over=REASON)
    claimed = b.claim_decision(b.principal("dora@acme"), taken.waiting[0]["run_id"], "approve", role="dpo")
    assert [t.root_run_id for t in b.in_flight()] == [root]  # running on B: a decision carried out
    assert a.in_flight() == []
    before = a.store.query(RUNS)
    a.resume_orphan(root, actor="server@host")
    with pytest.raises(RunOnOtherHost) as refused:
        a.resume(a.principal("ana@acme"), root)
    assert b.leases.host_id in refused.value.message
    assert a.store.query(RUNS) == before, "host A changed the tree host B took over"
    assert _complete(b, b.carry_out(claimed)).status == "completed"


def test_two_hosts_taking_one_tree_over_at_once_one_takes_it_and_the_other_is_refused(
    shared: str, tmp_path: Path
) -> None:
    a, b, c = _hosts(tmp_path, "host-a", "host-b", "host-c")
    root = _recorded(a)

    gone = a.leases.host_id  # each admin names the host they know is gone

    def take(host: Service) -> Any:
        try:
            return host.resume(host.principal("adam@acme"), root, take_over=REASON, from_host=gone)
        except WardenError as exc:
            return exc

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(take, (b, c)))
    refused = [r for r in results if isinstance(r, Exception)]
    assert len(refused) == 1 and isinstance(refused[0], RunOnOtherHost), results
    winner = b if not isinstance(results[0], Exception) else c
    assert winner.leases.host_id in refused[0].message
    assert len(_events(a, "tree_taken_over")) == 1


def test_a_take_over_from_a_host_the_tree_no_longer_has_is_refused_naming_its_host(
    shared: str, tmp_path: Path
) -> None:
    """Host B took A's tree over (and ran it to its approval) while C's admin, who saw A named,
    was about to: C's take-over from A is refused naming B, which may well be alive; it used
    to replace B and start the tree a second time."""
    a, b, c = _hosts(tmp_path, "host-a", "host-b", "host-c")
    root = _recorded(a)
    taken = b.resume(b.principal("adam@acme"), root, take_over=REASON, from_host=a.leases.host_id)
    assert taken.status == "waiting_approval"
    with pytest.raises(RunOnOtherHost) as refused:
        c.resume(c.principal("adam@acme"), root, take_over=REASON, from_host=a.leases.host_id)
    assert b.leases.host_id in refused.value.message
    assert f"--from-host {b.leases.host_id}" in (refused.value.fix or "")
    assert len(_events(a, "tree_taken_over")) == 1


def test_a_tree_waiting_for_approval_on_a_lost_host_is_not_taken_over(shared: str, tmp_path: Path) -> None:
    """Its pending decision is in the lost host's checkpoints: starting it again would run it
    behind its approval."""
    a, b = _hosts(tmp_path, "host-a", "host-b")
    root = a.start(a.principal("ana@acme", writing=True), ACME / "notice.md", tenant="acme").root_run_id
    with pytest.raises(CheckpointMissing):
        b.resume(b.principal("adam@acme"), root, take_over=REASON)
    assert _events(b, "tree_taken_over") == []
    with pytest.raises(RunOnOtherHost):
        b.resume(b.principal("ana@acme"), root)


def test_a_finished_tree_or_one_without_its_request_is_not_taken_over_and_stays_its_hosts(
    shared: str, tmp_path: Path
) -> None:
    """Checked before the hand-over commits: a take-over that could not run the tree would leave
    it with a host that cannot resume it, and its own host refused."""
    a, b = _hosts(tmp_path, "host-a", "host-b")
    done = _complete(a, a.start(a.principal("ana@acme", writing=True), ACME / "notice.md", tenant="acme"))
    adam = b.principal("adam@acme")  # (once a host has put the policy in force)
    with pytest.raises(UsageError) as needless:
        b.resume(adam, done.root_run_id, take_over=REASON)
    assert needless.value.code == "take_over_needless"
    old = _recorded(a)
    with b.store.connect() as con:  # a tree recorded before requests were kept
        con.execute("UPDATE runs SET request_json = NULL WHERE run_id = ?", [old])
    with pytest.raises(WardenError) as stuck:
        b.resume(adam, old, take_over=REASON)
    assert stuck.value.code == "run_not_restartable"
    assert _events(b, "tree_taken_over") == []
    with pytest.raises(RunOnOtherHost):  # still host A's
        b.resume(b.principal("ana@acme"), old)


def test_a_decision_on_another_hosts_waiting_tree_is_refused_naming_that_host_not_resume(
    shared: str, tmp_path: Path
) -> None:
    """The approval waits in host A's checkpoints; host B's approver is told to decide on A (the
    `warden resume` the refusal used to suggest is itself refused on B)."""
    a, b = _hosts(tmp_path, "host-a", "host-b")
    outcome = a.start(a.principal("ana@acme", writing=True), ACME / "notice.md", tenant="acme")
    with pytest.raises(WardenError) as refused:
        b.decide(b.principal("dora@acme"), outcome.waiting[0]["run_id"], "approve", role="dpo")
    assert a.leases.host_id in str(refused.value) and "resume" not in (refused.value.fix or "")
    assert _complete(a, outcome).status == "completed"  # host A decides it as before


@pytest.mark.duckdb_only
def test_on_the_duckdb_ledger_resume_is_the_hosts_own_and_a_take_over_is_needless(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WARDEN_LEDGER_URL", raising=False)
    [a] = _hosts(tmp_path, "home")
    root = _recorded(a)
    with pytest.raises(UsageError) as refused:
        a.resume(a.principal("adam@acme"), root, take_over=REASON)
    assert refused.value.code == "take_over_needless"
    resumed = a.resume(a.principal("ana@acme"), root)
    assert resumed.status == "waiting_approval"
    assert _complete(a, resumed).status == "completed"


def _warden(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARDEN_") or k == "WARDEN_LEDGER_URL"}
    env.update(NO_COLOR="1", COLUMNS="250", WARDEN_HOME=str(home), WARDEN_POLICY=str(ACME / "policy.yaml"))
    return subprocess.run(
        [sys.executable, "-m", "warden", *args], env=env, capture_output=True, text=True, timeout=300
    )


def test_the_resume_command_on_another_host_is_refused_and_takes_over_only_with_its_flags(
    shared: str, tmp_path: Path
) -> None:
    [a] = _hosts(tmp_path, "host-a")
    root = _recorded(a)
    home_b = tmp_path / "host-b"
    refused = _warden(home_b, "resume", root, "--as", "ana@acme", "--json")
    assert refused.returncode != 0 and "run_on_other_host" in refused.stdout + refused.stderr, refused
    stray = _warden(home_b, "resume", root, "--as", "adam@acme", "--reason", REASON)
    assert stray.returncode != 0 and "--take-over" in stray.stdout + stray.stderr, stray
    forbidden = _warden(
        home_b, "resume", root, "--as", "dora@acme", "--take-over", "--reason", REASON, "--json"
    )
    assert forbidden.returncode != 0 and "forbidden" in forbidden.stdout + forbidden.stderr, forbidden
    taken = _warden(home_b, "resume", root, "--as", "adam@acme", "--take-over", "--reason", REASON, "--json")
    assert "waiting_approval" in taken.stdout, taken
    [event] = _events(a, "tree_taken_over")
    assert event["payload"]["previous_host"] == a.leases.host_id and event["payload"]["reason"] == REASON


def test_a_take_over_is_refused_while_a_process_of_the_trees_host_beats_and_allowed_once_it_stops(
    shared: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Host A has a long-lived process (a server, a worker: it beats for A in the ledger). The
    take-over, through the service and the CLI, is refused (`host_alive`) naming A and when it was
    last seen; nothing changes. Once that process stops cleanly (its heartbeat ends), the same
    take-over goes through at once."""
    monkeypatch.setenv("WARDEN_HOST_BEAT_S", "0.5")
    a, b = _hosts(tmp_path, "host-a", "host-b")
    root = _recorded(a)
    a.long_lived("serve")
    try:
        before = b.store.query(RUNS)
        with pytest.raises(HostAlive) as refused:
            b.resume(b.principal("adam@acme"), root, take_over=REASON, from_host=a.leases.host_id)
        assert refused.value.code == "host_alive"
        assert a.leases.host_id in refused.value.message and "heartbeat" in refused.value.message
        cli = _warden(
            tmp_path / "host-b", "resume", root, "--as", "adam@acme", "--take-over", "--reason", REASON
        )
        assert cli.returncode == 1 and "host_alive" in cli.stdout + cli.stderr, cli
        assert b.store.query(RUNS) == before and _events(b, "tree_taken_over") == []
    finally:
        a.stop_heartbeat()
    taken = b.resume(b.principal("adam@acme"), root, take_over=REASON, from_host=a.leases.host_id)
    assert taken.status == "waiting_approval", taken
    assert len(_events(b, "tree_taken_over")) == 1


def test_a_decision_claimed_on_the_old_host_is_not_carried_out_there_once_the_tree_was_taken_over(
    shared: str, tmp_path: Path
) -> None:
    """Host A claimed a decision of its tree just before B's administrator took the tree over
    (A was silent: not beating yet). A's carry-out, coming after the hand-over, used to drive the
    tree on A beside B's new start. A drive now reads whose the tree is once its host's
    heartbeat is on record: A's is refused naming B, its claim released; the tree is B's alone."""
    a, b = _hosts(tmp_path, "host-a", "host-b")
    outcome = a.start(a.principal("ana@acme", writing=True), ACME / "notice.md", tenant="acme")
    root = outcome.root_run_id
    claimed = a.claim_decision(a.principal("dora@acme"), root, "approve", role="dpo")
    taken = b.resume(b.principal("adam@acme"), root, take_over=REASON, from_host=a.leases.host_id)
    assert taken.status == "waiting_approval", taken
    with pytest.raises(RunOnOtherHost) as refused:
        a.carry_out(claimed)
    assert b.leases.host_id in refused.value.message
    assert _events(b, "approval:approve") == [], "the decision claimed on A was carried out there"
    assert b.store.query("SELECT count(*) AS n FROM steps WHERE run_id = ?", [root]) == [{"n": 0}]
    assert _complete(b, taken).status == "completed"
