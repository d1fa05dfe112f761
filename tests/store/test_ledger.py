"""Ledger records flushed in a batch: one transaction, idempotent by key, the audit chain intact
and in the order the events were made (graph/ledger.py keeps them in the checkpoint until then)."""

from __future__ import annotations

from warden.schemas.finding import Finding
from warden.store import Store, audit, ledger
from warden.store.audit import verify_chain


def _records(n: int) -> list[dict]:
    out: list[dict] = []
    for i in range(n):
        out.append(
            ledger.step_record(
                run_id="r1",
                step_id=f"s{i}",
                kind="analyser",
                analyser="a",
                system_id=None,
                status="completed",
                attempts=1,
                started_at=ledger.stamp(),
                finished_at=ledger.stamp(),
                duration_s=0.01,
                output={"findings": [], "i": i},
                output_schema="findings",
            )
        )
        finding = Finding(
            id=f"f{i}", analyser="a", code="c", title="t", severity="low", category="x", message="m"
        )
        out.append(
            ledger.findings_record([finding], run_id="r1", root_run_id="r1", step_id=f"s{i}", tenant="acme")
        )
        out.append(
            ledger.audit_record(
                run_id="r1",
                root_run_id="r1",
                tenant="acme",
                actor="warden",
                event="step_completed",
                payload={"step": f"s{i}"},
                key=f"r1:s{i}:completed",
            )
        )
    return out


def test_a_flush_twice_writes_each_record_once_and_the_chain_verifies(tmp_path) -> None:
    store = Store(tmp_path / "w.duckdb")
    records = _records(40)
    with store.connect() as con:
        audit.audit(con, run_id="r1", root_run_id="r1", tenant="acme", actor="x", event="run_requested")
        ledger.flush(con, records[:60])
    with store.connect() as con:  # a repeat after a crash before the checkpoint, and the rest
        ledger.flush(con, records)
        audit.audit(con, run_id="r1", root_run_id="r1", tenant="acme", actor="x", event="run_finished")
    assert store.query("SELECT count(*) AS n FROM steps")[0]["n"] == 40
    assert store.query("SELECT count(*) AS n FROM findings")[0]["n"] == 40
    events = store.query("SELECT event, event_key, chain_no FROM audit_events ORDER BY seq")
    assert [e["chain_no"] for e in events] == list(range(1, 43))
    assert [e["event_key"] for e in events[1:-1]] == [f"r1:s{i}:completed" for i in range(40)]
    with store.connect(read_only=True) as con:
        assert verify_chain(con, "acme").ok


def test_the_latest_state_of_a_step_wins(tmp_path) -> None:
    store = Store(tmp_path / "w.duckdb")
    common = dict(
        run_id="r1", step_id="s", kind="analyser", analyser="a", system_id=None, started_at=ledger.stamp()
    )
    running = ledger.step_record(**common, status="running", attempts=2, finished_at=None, duration_s=None)
    done = ledger.step_record(
        **common, status="completed", attempts=2, finished_at=ledger.stamp(), duration_s=1.5
    )
    with store.connect() as con:
        ledger.flush(con, [running])
    with store.connect() as con:
        ledger.flush(con, [running, done])
    (row,) = store.query("SELECT status, attempts, duration_s FROM steps")
    assert row == {"status": "completed", "attempts": 2, "duration_s": 1.5}
