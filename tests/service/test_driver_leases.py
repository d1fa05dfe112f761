"""Driver leases: held by a live process (another one, or another thread of this one), free once
the holder is gone however it ended, re-entrant for the thread that holds it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from warden.service.driving import DriverLeases, this_driver

HOLD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from warden.service.driving import DriverLeases

    with DriverLeases(Path(sys.argv[1])).lease("run-0123456789ab"):
        print("held", flush=True)
        time.sleep(120)
    """
)


def test_a_lease_held_by_a_killed_process_is_free_and_names_it(tmp_path: Path) -> None:
    leases = DriverLeases(tmp_path)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert leases.driven_elsewhere("run-0123456789ab") == f"{this_driver().split(':')[0]}:{holder.pid}"
        with leases.lease("run-0123456789ab", wait=False) as mine:
            assert mine is False
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait(timeout=30)
    finally:
        if holder.poll() is None:
            os.killpg(holder.pid, signal.SIGKILL)
            holder.wait(timeout=30)
    assert leases.driven_elsewhere("run-0123456789ab") is None
    with leases.lease("run-0123456789ab", wait=False) as mine:
        assert mine is True
        assert leases.last_driver["run-0123456789ab"].endswith(f":{holder.pid}")  # the one that died
    with leases.lease("run-0123456789ab", wait=False) as mine:
        assert mine is True and leases.last_driver["run-0123456789ab"] is None  # a clean release


def test_a_lease_is_reentrant_for_its_thread_and_waited_for_by_others(tmp_path: Path) -> None:
    leases = DriverLeases(tmp_path)
    order: list[str] = []
    with leases.lease("run-aaaaaaaaaaaa"):
        with leases.lease("run-aaaaaaaaaaaa", wait=False) as again:
            assert again is True

        def other() -> None:
            with leases.lease("run-aaaaaaaaaaaa", wait=False) as mine:
                order.append(f"try:{mine}")
            with leases.lease("run-aaaaaaaaaaaa"):
                order.append("got")

        thread = threading.Thread(target=other)
        thread.start()
        time.sleep(0.3)
        order.append("release")
    thread.join(timeout=10)
    assert order == ["try:False", "release", "got"]
    with leases.lease("run-bbbbbbbbbbbb", wait=False) as mine:  # another tree: independent
        assert mine is True


def test_a_claimed_decision_whose_carrier_died_goes_back_to_waiting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server claimed a decision and died before a worker carried it out: the run is
    `running`, claimed, with no driver. Resuming the orphan puts it back to waiting (nothing was
    executed; the approver decides again), audited with who had claimed it."""
    from _acme_tree import acme_copy

    # the claim is made by this process below: it stands for one that has died since (a live
    # claimant's run is left to it: test_host_races.py)
    monkeypatch.setattr("warden.service.resuming.alive", lambda driver: False)

    acme = acme_copy(tmp_path / "acme")
    service = acme.service()
    ana, dora = service.principal("ana@acme", writing=True), service.principal("dora@acme")
    root = service.start(ana, acme.notice, tenant="acme").root_run_id
    assert service.in_flight() == []  # waiting for a decision needs no driver
    service.claim_decision(dora, root, "approve", role="dpo")  # ... and the carrier dies here
    (tree,) = service.in_flight()
    assert tree.root_run_id == root and tree.running == (root,) and tree.claimed_by == this_driver()
    outcome = service.resume_orphan(root, actor="server@host")
    assert outcome.status == "waiting_approval"
    assert service.in_flight() == []
    events = service.store.query(
        "SELECT event, actor, payload_json FROM audit_events WHERE run_id = ?", [root]
    )
    resumed = [e for e in events if e["event"] == "orphan_resumed"]
    assert len(resumed) == 1 and resumed[0]["actor"] == "server@host"
    assert this_driver() in resumed[0]["payload_json"]
    assert not [e for e in events if e["event"].startswith("approval:")]  # nothing was decided
    # and the approver can decide again
    done = service.decide(dora, root, "approve", role="dpo")
    assert [w["run_id"] for w in done.waiting] == [f"{root}.checks"]


def test_on_a_shared_ledger_a_host_leaves_the_trees_another_host_runs_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two hosts with state directories of their own share one Postgres ledger. A tree host A
    drives (a decision claimed, being carried out) and one A recorded and has not driven yet
    are A's: their checkpoints and leases are on A. Host B's orphan sweep must not take them
    for orphans (it cannot see A's lease) and resume them a second time."""
    from _acme_tree import ACME

    from warden.service import Service
    from warden.testing import pg_unavailable_reason, scratch_database

    reason = pg_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    with scratch_database("warden_orphans") as url:
        monkeypatch.setenv("WARDEN_LEDGER_URL", url)
        a, b = (Service(tmp_path / host, policy=ACME / "policy.yaml") for host in ("host-a", "host-b"))
        ana, dora = a.principal("ana@acme", writing=True), a.principal("dora@acme")
        claimed = a.start(ana, ACME / "notice.md", tenant="acme").root_run_id
        a.claim_decision(dora, claimed, "approve", role="dpo")  # A carries it out (or is about to)
        recorded = a.submit(ana, ACME / "notice.md", tenant="acme").run_id  # not driven yet
        assert {t.root_run_id for t in a.in_flight()} == {claimed, recorded}
        assert b.in_flight() == []
        runs = "SELECT run_id, status, claimed_by, updated_at FROM runs ORDER BY run_id"
        before = b.store.query(runs)
        for root in (claimed, recorded):
            b.resume_orphan(root, actor="server@host")
        assert b.store.query(runs) == before, "host B changed host A's runs"
        events = b.store.query("SELECT event FROM audit_events WHERE event = 'orphan_resumed'")
        assert events == []
