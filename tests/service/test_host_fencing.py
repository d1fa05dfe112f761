"""Fencing a taken-over tree's old host, and `warden doctor`'s list of the hosts that beat.

Two hosts are two state directories on one Postgres ledger. The old host's drive is a real
`warden approve` process, run as another machine when the kernel lets us (``unshare -u``: its
own hostname) and paused with SIGSTOP mid-step: its heartbeat stops with it, the host falls
silent past its window (``WARDEN_HOST_BEAT_S`` is short here) and an administrator takes the tree
over on the other host. Woken with SIGCONT, the old drive used to go on writing the tree beside
the new host; now each of its write transactions locks the tree's ``tree_hosts`` row and finds
another host named there: it writes nothing and stops with `run_taken_over`. The races between
a fenced write and a take-over are also played out transaction by transaction. On the DuckDB
ledger (one host) nothing is fenced and nothing beats."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _acme_tree import ACME
from _hosts import BEAT_S, NOTICE, SERVE, WINDOW_S, made  # noqa: F401  (made: autouse)
from _hosts import free_port as _free_port
from _hosts import host_env as _env
from _hosts import host_service as _service
from _hosts import kill_group as _kill
from _hosts import wait_for as _wait
from _ledgers import shared_postgres
from tests.graph._wardencli import PLUGINS, acme_policy_data, runbook, slow, write_yaml

from warden.catalogue import Catalogue
from warden.service import Service
from warden.service.driving import FencedStore
from warden.service.errors import HostAlive, RunTakenOver
from warden.store import hosts, runs

REASON = "host A stopped answering: its VM is frozen"
WRITTEN = {
    "runs": "SELECT run_id, status, status_reason, claimed_by, updated_at FROM runs ORDER BY run_id",
    "steps": "SELECT * FROM steps ORDER BY run_id, step_id",
    "findings": "SELECT * FROM findings ORDER BY finding_id",
    "audit": "SELECT chain_no, run_id, actor, event, payload_json FROM audit_events "
    "ORDER BY tenant, chain_no",
}
"""What a drive writes (its steps, findings, status changes and audit events)."""


@pytest.fixture
def shared(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh Postgres database the test's hosts share, and the short heartbeat interval."""
    monkeypatch.setenv("WARDEN_HOST_BEAT_S", str(BEAT_S))
    yield from shared_postgres(monkeypatch, "warden_host_fencing")


def _another_machine(hostname: str) -> list[str]:
    """The argv prefix that runs a command as another machine (a UTS namespace named `hostname`),
    or none when the kernel does not let us (the old host is then this machine's other state
    directory: the same drive, the same fencing)."""
    if shutil.which("unshare") is None:
        return []
    probe = subprocess.run(["unshare", "-u", "hostname", "warden-probe"], capture_output=True, timeout=30)
    if probe.returncode != 0:
        return []
    return ["unshare", "-u", "sh", "-c", f'hostname {hostname} && exec "$0" "$@"']


def _written(service: Service) -> dict[str, list[dict[str, Any]]]:
    return {name: service.store.query(sql) for name, sql in WRITTEN.items()}


def test_an_old_drive_that_wakes_after_a_take_over_writes_nothing_and_stops_with_run_taken_over(
    shared: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Host A's `warden approve` drives a long step; it is stopped (SIGSTOP: a frozen VM, a long
    pause), so its heartbeat stops and host A falls silent past its window; B's administrator
    takes the tree over and B starts it again from its request. A is then woken and its step
    finishes: it used to flush the step, its finding and the next steps onto the tree B now
    drives (two drivers, one tree). Now its first write finds B named in `tree_hosts`: nothing of
    A's is written after the take-over (no step, finding, status or audit event, not even its
    claim's release), it exits 1 with `run_taken_over` naming B, the chain verifies, and the
    tree completes on B."""
    monkeypatch.setenv("WARDEN_ANALYSER_PATH", str(PLUGINS))
    monkeypatch.setenv("WTEST_SIGNALS", str(tmp_path))  # (host B runs the step too, at the end)
    policy = write_yaml(tmp_path / "policy.yaml", acme_policy_data())
    steps = [slow("sleepy", seconds=300, until="go"), slow("last")]
    book = write_yaml(tmp_path / "long.yaml", runbook("long-review", steps))
    a = _service(tmp_path / "host-a", policy, catalogue=Catalogue.discover())
    b = _service(tmp_path / "host-b", policy, catalogue=Catalogue.discover())
    root = a.start(a.principal("ana@acme", writing=True), NOTICE, tenant="acme", runbook=book).root_run_id
    host_a, host_b = a.leases.host_id, b.leases.host_id
    log = tmp_path / "approve-a.log"
    approve = subprocess.Popen(
        [
            *_another_machine(f"old-{os.getpid()}"),
            sys.executable,
            "-m",
            "warden",
            "approve",
            root,
            "--as",
            "dora@acme",
            "--role",
            "dpo",
        ],
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
        os.killpg(approve.pid, signal.SIGSTOP)  # mid-step, its heartbeat thread with it

        def taken_over() -> Any:
            try:
                return b.resume(adam, root, take_over=REASON, from_host=host_a)
            except HostAlive:
                return None

        taken = _wait(taken_over, "host A to fall silent past its window", timeout_s=60)
        assert taken.status == "waiting_approval", taken  # started again from its request, on B
        [named] = b.store.query("SELECT host FROM tree_hosts WHERE root_run_id = ?", [root])
        assert named == {"host": host_b}
        before = _written(b)
        (tmp_path / "go").touch()  # A's step finishes as soon as A runs again
        os.killpg(approve.pid, signal.SIGCONT)
        approve.wait(timeout=90)
    finally:
        _kill(approve)
    said = log.read_text(errors="replace")
    assert approve.returncode == 1, said
    assert "(run_taken_over)" in said and host_b in said and "wrote nothing after the take-over" in said, said
    assert f"warden tree {root}" in said, said
    assert "Traceback" not in said and "internal error" not in said, said
    after = _written(b)
    for table in WRITTEN:
        assert after[table] == before[table], f"host A wrote {table} after the take-over"
    assert b.store.query("SELECT 1 FROM steps WHERE step_id = 'last'") == []
    verified = subprocess.run(
        [sys.executable, "-m", "warden", "audit", "verify", "--as", "dora@acme"],
        env={**_env(tmp_path / "host-b", tmp_path), "WARDEN_POLICY": str(policy)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    done = b.decide(b.principal("dora@acme"), root, "approve", role="dpo")
    assert done.status == "completed", done
    steps_done = b.store.query("SELECT step_id, status FROM steps WHERE run_id = ? ORDER BY step_id", [root])
    assert steps_done == [
        {"step_id": "last", "status": "completed"},
        {"step_id": "sleepy", "status": "completed"},
    ]


def _recorded(tmp_path: Path) -> tuple[Service, Service, str]:
    """Host A's tree (recorded, waiting for its approval) and host B, on the shared ledger."""
    a, b = _service(tmp_path / "host-a"), _service(tmp_path / "host-b")
    root = a.submit(a.principal("ana@acme", writing=True), NOTICE, tenant="acme").run_id
    return a, b, root


def _take_over_uncommitted(b: Service, root: str, previous: str) -> tuple[Any, Any]:
    """B's hand-over of the tree, its UPDATE done and not committed yet: (the unit of work, its
    connection); the caller commits it by closing the unit."""
    unit = b.store.connect()
    con = unit.__enter__()
    assert hosts.hand_over(con, root, previous=previous, host=b.leases.host_id, hostname="b", home="b")
    return unit, con


def test_a_fenced_write_waits_for_a_take_over_in_flight_then_writes_nothing(
    shared: str, tmp_path: Path
) -> None:
    """The take-over's UPDATE of `tree_hosts` is made and not committed; A's drive begins a write
    at that moment: it waits on the row, and once the take-over commits it is refused
    (`run_taken_over`, naming B): its write is not in the ledger."""
    a, b, root = _recorded(tmp_path)
    fenced = FencedStore(a.store, root, a.leases.host_id)
    before = b.store.query(WRITTEN["runs"])
    unit, _ = _take_over_uncommitted(b, root, a.leases.host_id)
    outcome: list[BaseException | None] = []

    def drive_writes() -> None:
        try:
            with fenced.connect() as con:
                runs.set_status(con, root, "failed", "host A's late write")
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    writer = threading.Thread(target=drive_writes)
    writer.start()
    time.sleep(1.0)
    assert writer.is_alive() and outcome == [], "the fenced write did not wait for the take-over"
    unit.__exit__(None, None, None)  # the take-over commits
    writer.join(30)
    [refused] = outcome
    assert isinstance(refused, RunTakenOver) and refused.code == "run_taken_over", refused
    assert b.leases.host_id in refused.message
    assert b.store.query(WRITTEN["runs"]) == before
    with pytest.raises(RunTakenOver), fenced.connect():  # every write after it, without asking again
        pass


def test_a_take_over_waits_for_a_fenced_write_in_flight(shared: str, tmp_path: Path) -> None:
    """A's drive is inside a write transaction (the row is locked for share): B's take-over waits
    until it commits, so that write is the old host's last and precedes the take-over whole;
    A's next write is refused."""
    a, b, root = _recorded(tmp_path)
    fenced = FencedStore(a.store, root, a.leases.host_id)
    unit = fenced.connect()
    con = unit.__enter__()
    runs.set_status(con, root, "running", "host A's last write")
    took: list[float] = []

    def take_over() -> None:
        with b.store.connect() as tcon:
            hosts.hand_over(
                tcon, root, previous=a.leases.host_id, host=b.leases.host_id, hostname="b", home="b"
            )
        took.append(time.monotonic())

    taker = threading.Thread(target=take_over)
    taker.start()
    time.sleep(1.0)
    assert taker.is_alive() and took == [], "the take-over did not wait for the drive's write"
    committed = time.monotonic()
    unit.__exit__(None, None, None)
    taker.join(30)
    assert took and took[0] >= committed
    [row] = b.store.query("SELECT status_reason FROM runs WHERE run_id = ?", [root])
    assert row["status_reason"] == "host A's last write"
    assert b.store.query("SELECT host FROM tree_hosts WHERE root_run_id = ?", [root]) == [
        {"host": b.leases.host_id}
    ]
    with pytest.raises(RunTakenOver), fenced.connect() as late:
        runs.set_status(late, root, "failed", "too late")


def test_a_tree_with_no_host_row_is_not_fenced_and_reads_are_never_fenced(
    shared: str, tmp_path: Path
) -> None:
    """A tree the ledger names no host for (older trees, Temporal's) is written as before; a read
    unit of work takes no lock and is not refused, even on a tree taken over."""
    a, b, root = _recorded(tmp_path)
    with a.store.connect() as con:
        con.execute("DELETE FROM tree_hosts WHERE root_run_id = ?", [root])
    with FencedStore(a.store, root, a.leases.host_id).connect() as con:
        runs.set_status(con, root, "running", "no host row: not fenced")
    [row] = a.store.query("SELECT status_reason FROM runs WHERE run_id = ?", [root])
    assert row["status_reason"] == "no host row: not fenced"
    with b.store.connect() as con:
        assert hosts.hand_over(con, root, previous=None, host=b.leases.host_id, hostname="b", home="b")
    with FencedStore(a.store, root, a.leases.host_id).connect(read_only=True) as con:
        assert runs.get_run(con, root) is not None


@pytest.mark.duckdb_only
def test_nothing_is_fenced_on_the_duckdb_ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The DuckDB file is one host's: a drive's context keeps the store itself (no extra statement
    per write), and a tree runs as before."""
    monkeypatch.delenv("WARDEN_LEDGER_URL", raising=False)
    service = _service(tmp_path / "home")
    started = service.start(service.principal("ana@acme", writing=True), NOTICE, tenant="acme")
    assert started.status == "waiting_approval"
    ctx = service._context(service.policies.live())
    assert service.leases.fenced(ctx, started.root_run_id) is ctx


def _doctor(home: Path, tmp: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "warden", "doctor", "--json"],
        env=_env(home, tmp),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def test_doctor_lists_the_processes_that_beat_alive_or_silent(shared: str, tmp_path: Path) -> None:
    """Two `warden serve` of two hosts beat on the ledger; one is SIGKILLed (its row stays and
    falls past its window). `warden doctor` lists both with hostname, process, kind and last
    beat: the live one alive, the killed one silent; its text output says the same."""
    servers: list[subprocess.Popen[Any]] = []
    for name in ("host-a", "host-b"):
        servers.append(
            subprocess.Popen(
                [
                    *SERVE,
                    "--port",
                    str(_free_port()),
                    "--policy",
                    str(ACME / "policy.yaml"),
                    "--no-resume-orphans",
                ],
                env=_env(tmp_path / name, tmp_path),
                stdout=subprocess.DEVNULL,
                stderr=(tmp_path / f"serve-{name}.log").open("wb"),
                start_new_session=True,
            )
        )
    watcher = _service(tmp_path / "watcher")
    try:
        _wait(lambda: len(watcher.store.query("SELECT 1 FROM host_beats")) == 2, "both servers to beat")
        _kill(servers[1])  # no clean stop: its row stays
        time.sleep(WINDOW_S + 0.5)
        beats = _doctor(tmp_path / "watcher", tmp_path)["engine"]["store"]["beats"]
        by_pid = {b["process"].rsplit(":", 1)[1]: b for b in beats}
        assert set(by_pid) == {str(servers[0].pid), str(servers[1].pid)}, beats
        live, dead = by_pid[str(servers[0].pid)], by_pid[str(servers[1].pid)]
        assert live["alive"] is True and live["kind"] == "serve" and live["age_s"] < WINDOW_S, live
        assert dead["alive"] is False and dead["age_s"] >= WINDOW_S, dead
        assert live["host"] != dead["host"] and live["window_s"] == WINDOW_S
        text = subprocess.run(
            [sys.executable, "-m", "warden", "doctor"],
            env=_env(tmp_path / "watcher", tmp_path),
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout
        assert "2 process(es) beat on the ledger" in text, text
        assert f":{servers[0].pid} serve: last seen" in text and "alive" in text, text
        assert f":{servers[1].pid} serve: last seen" in text and "silent" in text, text
    finally:
        for server in servers:
            _kill(server, signal.SIGTERM)


@pytest.mark.duckdb_only
def test_doctor_says_nothing_beats_on_the_duckdb_ledger(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WARDEN_LEDGER_URL", raising=False)
    service = _service(tmp_path / "home")
    service.start(service.principal("ana@acme", writing=True), NOTICE, tenant="acme")
    service.store.close()
    env = {k: v for k, v in _env(tmp_path / "home", tmp_path).items() if k != "WARDEN_LEDGER_URL"}
    text = subprocess.run(
        [sys.executable, "-m", "warden", "doctor"], env=env, capture_output=True, text=True, timeout=120
    )
    assert text.returncode == 0, text.stdout + text.stderr
    assert "nothing beats on the DuckDB ledger" in text.stdout, text.stdout
    assert _doctor_json_beats(env) is None


def _doctor_json_beats(env: dict[str, str]) -> Any:
    done = subprocess.run(
        [sys.executable, "-m", "warden", "doctor", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return json.loads(done.stdout)["engine"]["store"]["beats"]
