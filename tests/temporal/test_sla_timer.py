"""SLA escalation on the Temporal engine is a durable timer in the waiting workflow: it fires at
the approval's due time with no server loop running, survives the workers and the Temporal
server going away, and escalates exactly as (and, with the loop running too, once with) the
server's SLA loop."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from _cluster import WAIT_S, Cluster, start_dev_server
from _wardencli import ACME_NOTICE, acme_policy_data, runbook, slow, write_yaml

from warden.graph.temporal.settings import TemporalSettings
from warden.service import Service, run_escalation_loop
from warden.worker.cluster import wait_for_port

pytestmark = pytest.mark.slow

SLA_S = 30
"""Long enough to stop and restart the workers and the Temporal server while a run waits."""


def _start(service: Service, book: Path) -> str:
    ana = service.principal("ana@acme", writing=True)
    done = service.start(ana, ACME_NOTICE, tenant="acme", runbook=book)
    assert done.status == "waiting_approval", done
    return done.root_run_id


def _escalations(service: Service, run_id: str) -> list[dict[str, Any]]:
    return service.store.query(
        "SELECT actor, payload_json FROM audit_events WHERE run_id = ? AND event = 'approval_escalated'",
        [run_id],
    )


def _escalated_at(service: Service, run_id: str, deadline: float) -> Any:
    while time.monotonic() < deadline:
        row = service.store.query("SELECT escalated_at FROM approval_queue WHERE run_id = ?", [run_id])[0]
        if row["escalated_at"] is not None:
            return row["escalated_at"]
        time.sleep(1.0)  # slow polling: the workers need the DuckDB file
    raise AssertionError(f"{run_id} was not escalated")


def _timer_escalations(service: Service, run_id: str) -> int:
    """How often the run's workflow ran the escalation activity (from its Temporal history)."""
    engine: Any = service.engine

    async def count() -> int:
        history = await (await engine._handle(run_id)).fetch_history()
        return sum(
            1
            for e in history.events
            if e.HasField("activity_task_scheduled_event_attributes")
            and e.activity_task_scheduled_event_attributes.activity_type.name == "warden.approval_escalate"
        )

    return asyncio.run(count())


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        proc.wait(timeout=60)


def test_the_sla_timer_escalates_once_after_workers_and_temporal_restart(
    own_server: tuple[Path, Path, int], tmp_path: Path
) -> None:
    binary, folder, port = own_server
    server = start_dev_server(binary, folder, port)
    cluster: Cluster | None = None
    stop_loop = threading.Event()
    loop: threading.Thread | None = None
    try:
        wait_for_port(port, WAIT_S, server)
        data = acme_policy_data()
        data["tenants"]["acme"]["approval"].update(sla=f"{SLA_S}s", escalate_to="admin")
        # a channel, so each escalation queues one notice (never sent: nothing delivers here)
        data["tenants"]["acme"]["notifications"] = {"webhook": {"url": "http://127.0.0.1:9/warden"}}
        settings = TemporalSettings(
            address=f"127.0.0.1:{port}", task_queue="warden-sla", heartbeat_s=3.0, wait_s=WAIT_S
        )
        cluster = Cluster(tmp_path / "home", settings, write_yaml(tmp_path / "policy.yaml", data))
        cluster.home.mkdir()
        cluster.start_workers(1)
        service = cluster.service()  # as `warden serve` holds it, but no SLA loop runs
        book = write_yaml(tmp_path / "quick.yaml", runbook("quick", [slow("a", 0)]))
        first = _start(service, book)
        [queued] = service.store.query(
            "SELECT requested_at, due_at FROM approval_queue WHERE run_id = ?", [first]
        )
        assert queued["due_at"] == queued["requested_at"] + timedelta(seconds=SLA_S)

        # while it waits: the workers and the Temporal server go away, then come back
        _stop(cluster.workers)  # (kept in the list: the next one logs to worker-1.log)
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
        server = start_dev_server(binary, folder, port)  # same database, same address
        wait_for_port(port, WAIT_S, server)
        cluster.start_workers(1)
        [back] = service.store.query("SELECT escalated_at FROM approval_queue WHERE run_id = ?", [first])
        assert back["escalated_at"] is None
        assert datetime.now(UTC).replace(tzinfo=None) < queued["due_at"], "restart longer than the SLA"

        # the timer fires at the due time: escalated as the server loop would, with no loop
        at = _escalated_at(service, first, time.monotonic() + WAIT_S)
        assert at >= queued["due_at"]
        [event] = _escalations(service, first)
        payload = json.loads(event["payload_json"])
        assert event["actor"] == "warden"
        assert (payload["escalate_to"], payload["notified"]) == ("admin", ["adam@acme"])
        assert _timer_escalations(service, first) == 1

        # a second run, with the server's SLA loop running too: escalated once between them
        second = _start(service, book)
        loop = threading.Thread(
            target=run_escalation_loop, args=(service, 0.25, stop_loop), kwargs={"deliver": False}
        )
        loop.start()
        _escalated_at(service, second, time.monotonic() + WAIT_S)
        deadline = time.monotonic() + WAIT_S
        while _timer_escalations(service, second) == 0 and time.monotonic() < deadline:
            time.sleep(1.0)  # the timer fires too (after or before the loop's pass)
        assert _timer_escalations(service, second) == 1
        time.sleep(2.0)  # a few more passes of the loop
        stop_loop.set()
        loop.join(timeout=WAIT_S)
        for run_id in (first, second):
            assert len(_escalations(service, run_id)) == 1, run_id
            sent = service.store.query(
                "SELECT count(*) AS n FROM notifications WHERE run_id = ? AND event = 'approval_escalated'",
                [run_id],
            )
            assert sent[0]["n"] == 1, run_id
        assert service.escalate_overdue() == []

        dora = service.principal("dora@acme")
        for run_id in (first, second):
            done = service.decide(dora, run_id, "approve", role="dpo")
            assert done.status == "completed", done
    finally:
        stop_loop.set()
        if loop is not None:
            loop.join(timeout=WAIT_S)
        if cluster is not None:
            cluster.stop()
        server.terminate()
        server.wait(timeout=30)
