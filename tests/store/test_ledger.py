"""Ledger records flushed in a batch: one transaction, idempotent by key, the audit chain intact
and in the order the events were made (graph/ledger.py keeps them in the checkpoint until then)."""

from __future__ import annotations

import pytest

from warden.schemas.finding import Finding
from warden.store import Store, audit, ledger
from warden.store.audit import verify_chain


def _step(step_id: str, duration_s: float = 0.01, **output: object) -> dict:
    """A completed analyser step of run r1 (with `output` as a findings output, if given)."""
    return ledger.step_record(
        run_id="r1",
        step_id=step_id,
        kind="analyser",
        analyser="a",
        system_id=None,
        status="completed",
        attempts=1,
        started_at=ledger.stamp(),
        finished_at=ledger.stamp(),
        duration_s=duration_s,
        **({"output": output, "output_schema": "findings"} if output else {}),
    )


def _records(n: int) -> list[dict]:
    out: list[dict] = []
    for i in range(n):
        out.append(_step(f"s{i}", findings=[], i=i))
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


def _event(tenant: str, run: str, i: int) -> dict:
    return ledger.audit_record(
        run_id=run,
        root_run_id=run,
        tenant=tenant,
        actor="warden",
        event="step_completed",
        payload={"step": f"s{i}"},
        key=f"{run}:s{i}:completed",
    )


def test_batched_flushes_interleaved_with_direct_events_keep_every_tenant_chain_verifiable(tmp_path) -> None:
    """Three tenants' events, flushed in batches of different sizes (one of 600, larger than
    any flush the graph makes) between events audited one at a time, some batches flushed twice
    and in part: each chain verifies, holds every event once, and runs in seq order."""
    store = Store(tmp_path / "w.duckdb")
    tenants = ["acme", "globex", "initech"]
    batches = {t: [_event(t, f"{t}-r", i) for i in range(600)] for t in tenants}
    with store.connect() as con:
        audit.audit(con, run_id=None, root_run_id=None, tenant="acme", actor="x", event="policy_applied")
    for lo, hi in ((0, 5), (5, 100), (100, 101), (101, 600)):
        with store.connect() as con:
            # one flush mixing the tenants, as a tree's runs' records are mixed
            mixed = [e for i in range(lo, hi) for e in (batches[t][i] for t in tenants)]
            ledger.flush(con, mixed)
            for t in tenants:
                audit.audit(con, run_id=None, root_run_id=None, tenant=t, actor="x", event=f"between:{hi}")
        with store.connect() as con:  # a repeat after a crash before the checkpoint: nothing new
            ledger.flush(con, mixed[: len(mixed) // 2])
    with store.connect(read_only=True) as con:
        for t in tenants:
            report = verify_chain(con, t)
            assert report.ok, report.problem
            expected = 600 + 4 + (1 if t == "acme" else 0)
            assert report.checked == expected
    for t in tenants:
        rows = store.query("SELECT chain_no, event_key FROM audit_events WHERE tenant = ? ORDER BY seq", [t])
        assert [r["chain_no"] for r in rows] == list(range(1, len(rows) + 1))
        keys = [r["event_key"] for r in rows if r["event_key"]]
        assert len(keys) == len(set(keys)) == 600


@pytest.mark.duckdb_only
def test_a_flush_and_a_direct_event_that_race_for_the_chain_head_cannot_both_commit(tmp_path) -> None:
    """Two transactions appending to one tenant's chain from the same head (a flush and an event
    audited one at a time): the UNIQUE (tenant, chain_no) index makes the second fail (a write
    conflict its unit of work may retry), never a forked chain."""
    import contextlib

    import duckdb

    from warden.store import is_write_conflict

    store = Store(tmp_path / "w.duckdb")
    with store.connect() as con:
        audit.audit(con, run_id=None, root_run_id=None, tenant="acme", actor="x", event="first")
    con = duckdb.connect(str(store.path))
    a, b = con.cursor(), con.cursor()
    a.execute("BEGIN TRANSACTION")
    b.execute("BEGIN TRANSACTION")
    ledger.flush(a, [_event("acme", "r", 1), _event("acme", "r", 2)])
    with pytest.raises(duckdb.Error) as caught:
        audit.audit(b, run_id=None, root_run_id=None, tenant="acme", actor="x", event="racing")
        a.execute("COMMIT")
        b.execute("COMMIT")
    assert is_write_conflict(caught.value), caught.value
    for cur in (a, b):
        with contextlib.suppress(duckdb.Error):
            cur.execute("ROLLBACK")
    con.close()
    with store.connect(read_only=True) as ro:
        report = verify_chain(ro, "acme")
    assert report.ok, report.problem
    assert report.checked in (2, 3)  # the flush's two events or the racing one, never both


@pytest.mark.duckdb_only
def test_the_generation_changes_with_every_commit_open_and_close_and_is_none_outside_a_hold(tmp_path) -> None:
    store = Store(tmp_path / "w.duckdb")
    other = Store(tmp_path / "w.duckdb")  # another Store on the same file, in this process
    with store.connect() as con:  # create it
        con.execute("SELECT 1")
    assert store.generation() is None
    with store.hold():
        assert store.generation() is None  # the file is not open yet
        with store.connect(read_only=True) as con:
            con.execute("SELECT 1")
        g = store.generation()
        assert g is not None
        with store.connect(read_only=True) as con:  # a read changes nothing
            con.execute("SELECT 1")
        assert store.generation() == g
        with store.connect() as con:
            con.execute("CREATE TABLE IF NOT EXISTS t (x INTEGER)")
        g2 = store.generation()
        assert g2 is not None and g2 != g
        with other.connect() as con:  # a write through another Store of this process
            con.execute("INSERT INTO t VALUES (1)")
        g3 = store.generation()
        assert g3 is not None and g3 != g2
        store.release()  # another process may now write: nothing read before may be reused
        assert store.generation() is None
        with store.connect(read_only=True) as con:
            con.execute("SELECT 1")
        assert store.generation() not in (None, g3)
    assert store.generation() is None


def test_settle_duration_sums_the_runs_analyser_steps_once_each_and_nothing_else(tmp_path) -> None:
    """A retried step's row is its latest attempt (counted once), other kinds and other runs'
    steps are not counted, and a run without analyser steps settles at 0."""
    from warden.store import runs

    store = Store(tmp_path / "w.duckdb", url="")

    def step(run_id: str, step_id: str, kind: str, attempts: int, duration_s: float) -> dict:
        return ledger.step_record(
            run_id=run_id, step_id=step_id, kind=kind, analyser="a", system_id=None, status="completed",
            attempts=attempts, started_at=ledger.stamp(), finished_at=ledger.stamp(), duration_s=duration_s,
        )  # fmt: skip

    for run_id in ("r1", "r2", "r3"):
        with store.connect() as con:
            runs.create_run(con, runs.RunRow(run_id, run_id, None, None, 0, run_id, None, "acme", "u"))
    with store.connect() as con:
        ledger.flush(con, [step("r1", "a", "analyser", 1, 1.0), step("r1", "b", "analyser", 1, 2.0)])
        ledger.flush(con, [step("r1", "b", "analyser", 2, 4.0), step("r1", "w", "execute_workflow", 1, 50.0)])
        ledger.flush(con, [step("r2", "a", "analyser", 1, 100.0)])
        for run_id in ("r1", "r3"):
            runs.settle_duration(con, run_id)
    got = {r["run_id"]: r["duration_s"] for r in store.query("SELECT run_id, duration_s FROM runs")}
    assert got["r1"] == 5.0 and got["r3"] == 0.0
    assert got["r2"] != 100.0  # not settled: untouched


def test_complete_stamps_the_run_and_settles_its_duration_in_one_update(tmp_path) -> None:
    """`runs.complete` leaves what `set_status(completed)` and `settle_duration` left: the status,
    no reason, finished_at kept when already set, the analyser steps' duration summed once."""
    from warden.store import runs

    store = Store(tmp_path / "w.duckdb", url="")
    for run_id in ("r1", "r2"):
        with store.connect() as con:
            runs.create_run(con, runs.RunRow(run_id, run_id, None, None, 0, run_id, None, "acme", "u"))
    with store.connect() as con:
        ledger.flush(
            con,
            [_step(s, d) for s, d in (("a", 1.5), ("b", 2.5))],
        )
        runs.complete(con, "r1")
        runs.set_status(con, "r2", "running", "why")
        runs.complete(con, "r2")
    got = {r["run_id"]: r for r in store.query("SELECT * FROM runs")}
    assert got["r1"]["status"] == "completed" and got["r1"]["status_reason"] is None
    assert got["r1"]["duration_s"] == 4.0 and got["r1"]["finished_at"] is not None
    assert got["r2"]["status"] == "completed" and got["r2"]["status_reason"] is None
    assert got["r2"]["duration_s"] == 0.0
    first = got["r1"]["finished_at"]
    with store.connect() as con:
        runs.complete(con, "r1")  # a finish run again (a resume): finished_at stays
    assert store.query("SELECT finished_at FROM runs WHERE run_id = 'r1'")[0]["finished_at"] == first


def test_publishing_a_version_read_before_returns_its_number_without_reading(tmp_path) -> None:
    """`known_version` (the number an earlier read of this very version found) is the number a
    read would find: a version's row is never updated or deleted and its key is unique."""
    from warden.store import approvals

    store = Store(tmp_path / "w.duckdb", url="")
    args = {"tenant": "acme", "runbook": "rb", "declared_version": 1, "definition": {}, "approved_by": "u"}
    with store.connect() as con:
        first = approvals.publish_version(con, sha256="s1", run_id="r1", **args)
        second = approvals.publish_version(con, sha256="s2", run_id="r2", **args)
    with store.connect() as con:
        last = approvals.last_approved(con, "acme", "rb")
        assert last is not None and last["sha256"] == "s2"
        again = approvals.publish_version(
            con, sha256="s2", run_id="r3", known_version=last["version_no"], **args
        )
        read = approvals.publish_version(con, sha256="s2", run_id="r3", **args)
    assert (first, second, again, read) == (1, 2, 2, 2)
    assert store.query("SELECT count(*) AS n FROM runbook_versions")[0]["n"] == 2
