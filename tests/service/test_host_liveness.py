"""Host liveness on a ledger several hosts share: heartbeats in the ledger (``host_beats``).

Two hosts are two state directories on one Postgres ledger; a process of "another machine" is a
real subprocess in a UTS namespace of its own (``unshare -u``: another hostname, the same
network), so this machine's ``pid_alive`` cannot see it. Processes that must die are real
subprocesses, killed with SIGKILL (no clean stop: their heartbeat row stays and ages out) or
stopped with SIGTERM (a clean stop deletes it). The heartbeat interval is shortened for the
tests (``WARDEN_HOST_BEAT_S``), so the liveness window is 3 x that."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from _acme_tree import ACME, acme_copy
from _hosts import BEAT_S, NOTICE, SERVE, WINDOW_S, made  # noqa: F401  (made: autouse)
from _hosts import free_port as _free_port
from _hosts import host_env as _env
from _hosts import host_service as _service
from _hosts import kill_group as _kill
from _hosts import wait_for as _wait
from _ledgers import either_ledger, shared_postgres
from tests.graph._wardencli import PLUGINS, acme_policy_data, runbook, slow, write_yaml

from warden.catalogue import Catalogue
from warden.errors import WardenError
from warden.service import Service
from warden.service.driving import RunBusy, alive, this_driver
from warden.service.errors import HostAlive

REASON = "host A is being decommissioned"
RUNS = "SELECT run_id, status, claimed_by, updated_at FROM runs ORDER BY run_id"


@pytest.fixture
def shared(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh Postgres database the test's hosts share, and the short heartbeat interval."""
    monkeypatch.setenv("WARDEN_HOST_BEAT_S", str(BEAT_S))
    yield from shared_postgres(monkeypatch, "warden_host_liveness")


@pytest.fixture(params=["duckdb", "postgres"])
def ledger(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("WARDEN_HOST_BEAT_S", str(BEAT_S))
    yield from either_ledger(request, monkeypatch, "warden_host_liveness")


def _beats(service: Service, host: str) -> list[dict[str, Any]]:
    return service.store.query(
        "SELECT process, kind, beat_s, last_seen FROM host_beats WHERE host = ? ORDER BY process", [host]
    )


def _events(service: Service, event: str) -> list[dict[str, Any]]:
    found = service.store.query(
        "SELECT actor, run_id, payload_json FROM audit_events WHERE event = ? ORDER BY chain_no", [event]
    )
    return [{**row, "payload": json.loads(row["payload_json"])} for row in found]


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def test_a_take_over_is_refused_while_a_server_of_the_trees_host_beats_and_allowed_once_it_stopped(
    shared: str, tmp_path: Path
) -> None:
    """Host A's `warden serve` is alive (it beats): host B's administrator is refused, naming A
    and when it was last seen, with or without --from-host; nothing changes. A SIGTERM stops the
    server cleanly: its heartbeat row goes at once, and the take-over then goes through."""
    a, b = _service(tmp_path / "host-a"), _service(tmp_path / "host-b")
    root = a.submit(a.principal("ana@acme", writing=True), NOTICE, tenant="acme").run_id
    port = _free_port()
    log = tmp_path / "serve-a.log"
    served = subprocess.Popen(
        [*SERVE, "--port", str(port), "--policy", str(ACME / "policy.yaml"), "--no-resume-orphans"],
        env=_env(tmp_path / "host-a", tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
        start_new_session=True,
    )
    host_a = a.leases.host_id
    adam = b.principal("adam@acme")
    try:
        [beat] = _wait(lambda: _beats(b, host_a), "host A's server to beat")
        assert beat["kind"] == "serve" and beat["process"].endswith(f":{served.pid}"), beat
        assert beat["beat_s"] == BEAT_S
        _wait(lambda: _beats(b, host_a)[0]["last_seen"] > beat["last_seen"], "a second heartbeat")
        before = b.store.query(RUNS)
        for from_host in (host_a, None):
            with pytest.raises(HostAlive) as refused:
                b.resume(adam, root, take_over=REASON, from_host=from_host)
            message = refused.value.message
            assert refused.value.code == "host_alive", refused.value
            assert host_a in message and f":{served.pid}" in message and "heartbeat" in message, message
            assert " s ago (at " in message and f"within {WINDOW_S:.0f} s" in message, message
            assert "stop Warden there" in (refused.value.fix or "")
        assert b.store.query(RUNS) == before
        assert _events(b, "tree_taken_over") == []
        named = b.store.query("SELECT host FROM tree_hosts WHERE root_run_id = ?", [root])
        assert named == [{"host": host_a}]
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 200
    finally:
        _kill(served, signal.SIGTERM)
    # uvicorn shuts down cleanly (the lifespan ends), then re-raises the signal
    assert served.returncode in (0, -signal.SIGTERM), log.read_text(errors="replace")
    assert "Application shutdown complete" in log.read_text(errors="replace")
    assert _beats(b, host_a) == [], "a clean stop leaves no heartbeat"
    taken = b.resume(adam, root, take_over=REASON, from_host=host_a)
    assert taken.status == "waiting_approval", taken
    [event] = _events(b, "tree_taken_over")
    assert event["payload"]["previous_host"] == host_a and event["payload"]["host"] == b.leases.host_id


def test_a_take_over_from_a_host_whose_cli_was_killed_mid_decision_waits_out_its_window(
    shared: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`warden approve` on host A claims the decision and drives a long step (it beats while it
    does): B's take-over is refused naming that process. SIGKILLed, it cannot end its heartbeat:
    the row stays, and the take-over goes through only once it is past its window; the tree
    starts again on B from its request (the dead claim is not a live driver)."""
    monkeypatch.setenv("WARDEN_ANALYSER_PATH", str(PLUGINS))
    policy = write_yaml(tmp_path / "policy.yaml", acme_policy_data())
    steps = [slow("sleepy", seconds=300, until="go"), slow("last")]
    book = write_yaml(tmp_path / "long.yaml", runbook("long-review", steps))
    a = _service(tmp_path / "host-a", policy, catalogue=Catalogue.discover())
    b = _service(tmp_path / "host-b", policy, catalogue=Catalogue.discover())
    root = a.start(a.principal("ana@acme", writing=True), NOTICE, tenant="acme", runbook=book).root_run_id
    host_a = a.leases.host_id
    log = tmp_path / "approve-a.log"
    approve = subprocess.Popen(
        [sys.executable, "-m", "warden", "approve", root, "--as", "dora@acme", "--role", "dpo"],
        env={**_env(tmp_path / "host-a", tmp_path), "WARDEN_POLICY": str(policy)},
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
        start_new_session=True,
    )
    adam = b.principal("adam@acme")
    try:
        _wait(
            lambda: b.store.query(
                "SELECT 1 FROM steps WHERE run_id = ? AND step_id = 'sleepy' AND status = 'running'", [root]
            ),
            "the sleepy step",
        )
        [row] = b.store.query("SELECT claimed_by, status FROM runs WHERE run_id = ?", [root])
        assert row == {"claimed_by": f"{socket.gethostname()}:{approve.pid}", "status": "running"}
        with pytest.raises(HostAlive) as refused:
            b.resume(adam, root, take_over=REASON, from_host=host_a)
        assert host_a in refused.value.message and f":{approve.pid}" in refused.value.message
    finally:
        _kill(approve)
    assert approve.returncode == -signal.SIGKILL, log.read_text(errors="replace")
    [left] = _beats(b, host_a)  # a killed process cannot end its heartbeat
    assert left["process"].endswith(f":{approve.pid}"), left

    def taken_over() -> Any:
        try:
            return b.resume(adam, root, take_over=REASON, from_host=host_a)
        except HostAlive:
            return None

    taken = _wait(taken_over, "host A's heartbeat to fall past its window", timeout_s=60)
    assert (_utcnow() - left["last_seen"]).total_seconds() >= WINDOW_S
    assert taken.status == "waiting_approval", taken  # started again from its request, on B
    [event] = _events(b, "tree_taken_over")
    assert event["payload"]["previous_host"] == host_a and event["payload"]["reason"] == REASON
    [row] = b.store.query("SELECT claimed_by, status FROM runs WHERE run_id = ?", [root])
    assert row == {"claimed_by": None, "status": "waiting_approval"}


CLAIM_ELSEWHERE = textwrap.dedent(
    """
    import socket, sys, time
    from warden.service import Service

    service = Service(sys.argv[1]).long_lived("serve")  # a server: it beats for its host
    service.claim_decision(service.principal("dora@acme"), sys.argv[2], "approve", role="dpo")
    print(socket.gethostname(), flush=True)  # claimed; its worker has not carried it out yet
    time.sleep(300)
    """
)


def _as_host(hostname: str) -> list[str]:
    """The argv prefix that runs a command in a UTS namespace of its own, named `hostname`."""
    return ["unshare", "-u", "sh", "-c", f'hostname {hostname} && exec "$0" "$@"']


def _unshare_missing() -> str | None:
    if shutil.which("unshare") is None:
        return "no `unshare` here: a process of another machine cannot be made"
    probe = subprocess.run(["unshare", "-u", "hostname", "warden-probe"], capture_output=True, timeout=30)
    if probe.returncode != 0:
        return f"`unshare -u` is not permitted here ({probe.stderr.decode(errors='replace').strip()})"
    return None


def test_a_claim_by_a_live_process_of_another_machine_is_kept_by_resume_until_its_heartbeat_stops(
    shared: str, tmp_path: Path
) -> None:
    """A server process whose hostname is another machine's (a container restarted with a new
    name on the same state directory, or a shared one) claimed a decision and has not carried
    it out yet. This machine cannot probe its pid: `resume` used to drop the claim and put the
    run back to waiting (a second decision could then come in beside the first). Now the
    claimant's heartbeat says it is alive: `run_busy`, naming it. Once it is SIGKILLed and its
    heartbeat is past its window, resume takes the run back to waiting."""
    missing = _unshare_missing()
    if missing:
        pytest.skip(missing)
    a = _service(tmp_path / "host-a")
    root = a.start(a.principal("ana@acme", writing=True), NOTICE, tenant="acme").root_run_id
    other = f"other-{os.getpid()}"
    claimant = subprocess.Popen(
        [*_as_host(other), sys.executable, "-c", CLAIM_ELSEWHERE, str(tmp_path / "host-a"), root],
        env={**_env(tmp_path / "host-a", tmp_path), "WARDEN_POLICY": str(ACME / "policy.yaml")},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    ana = a.principal("ana@acme")
    try:
        assert claimant.stdout is not None
        assert claimant.stdout.readline().strip() == other, claimant.stderr
        [row] = a.store.query("SELECT claimed_by, status FROM runs WHERE run_id = ?", [root])
        assert row == {"claimed_by": f"{other}:{claimant.pid}", "status": "running"}
        assert alive(row["claimed_by"]) is None  # another machine's: no pid to probe from here
        with pytest.raises(RunBusy) as busy:
            a.resume(ana, root)
        assert row["claimed_by"] in busy.value.message and "heartbeat" in busy.value.message
        [still] = a.store.query("SELECT claimed_by, status FROM runs WHERE run_id = ?", [root])
        assert still == row, "resume dropped a live claim"
    finally:
        _kill(claimant)

    def resumed() -> Any:
        try:
            return a.resume(ana, root)
        except RunBusy:
            return None

    outcome = _wait(resumed, "the claimant's heartbeat to fall past its window", timeout_s=60)
    assert outcome.status == "waiting_approval", outcome
    [row] = a.store.query("SELECT claimed_by, status FROM runs WHERE run_id = ?", [root])
    assert row == {"claimed_by": None, "status": "waiting_approval"}
    assert a.decide(a.principal("dora@acme"), root, "approve", role="dpo").waiting  # decided once, here


def test_a_carry_out_that_raises_releases_its_claim_and_resume_takes_the_run(
    ledger: str, tmp_path: Path
) -> None:
    """A live process (this one) claimed a decision and its carry-out failed (the checkpoint
    file was a directory: `checkpoint_not_a_file`, no run is failed for it). It used to keep the
    claim: `resume` answered `run_busy` for as long as this process lived. Now the claim is
    released with the reason (status reason and a `claim_released` audit event), and once the
    file is back, resume puts the run back to waiting: the decision was never carried out."""
    acme = acme_copy(tmp_path / "acme")
    first = _service(acme.home, acme.policy)
    ana, dora = first.principal("ana@acme", writing=True), first.principal("dora@acme")
    root = first.start(ana, acme.notice, tenant="acme").root_run_id
    claimed = first.claim_decision(dora, root, "approve", role="dpo")
    checkpoints = acme.home / "checkpoints.sqlite"
    aside = checkpoints.with_name("checkpoints.sqlite.aside")
    checkpoints.rename(aside)
    checkpoints.mkdir()  # a directory in its place: the next process to open it fails
    try:
        with pytest.raises(WardenError) as failed:
            _service(acme.home, acme.policy).carry_out(claimed)
        assert failed.value.code == "checkpoint_not_a_file"
    finally:
        checkpoints.rmdir()
        aside.rename(checkpoints)
    [row] = first.store.query("SELECT status, claimed_by, status_reason FROM runs WHERE run_id = ?", [root])
    assert row["status"] == "running" and row["claimed_by"] is None, row
    assert f"by {this_driver()} failed (checkpoint_not_a_file: " in row["status_reason"], row
    assert f"warden resume {root}" in row["status_reason"]
    [event] = _events(first, "claim_released")
    assert event["run_id"] == root and event["payload"]["claimant"] == this_driver()
    assert event["payload"]["code"] == "checkpoint_not_a_file"
    assert _events(first, "approval:approve") == []
    resumed = first.resume(ana, root)
    assert resumed.status == "waiting_approval", resumed
    done = first.decide(dora, root, "approve", role="dpo")
    assert [w["run_id"] for w in done.waiting] == [f"{root}.checks"]
    assert len(_events(first, "approval:approve")) == 1


@pytest.mark.duckdb_only
def test_nothing_beats_on_the_duckdb_ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The DuckDB file is one host's: liveness there is the pid and the driver lease's flock, so
    neither a long-lived process nor a drive records a heartbeat (and no thread of theirs
    touches DuckDB)."""
    monkeypatch.delenv("WARDEN_LEDGER_URL", raising=False)
    service = _service(tmp_path / "home").long_lived("serve")
    started = service.start(service.principal("ana@acme", writing=True), NOTICE, tenant="acme")
    assert started.status == "waiting_approval"
    assert not service.leases.beats.running
    assert service.store.query("SELECT * FROM host_beats") == []
