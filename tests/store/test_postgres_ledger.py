"""The Postgres ledger itself, on the real server at 127.0.0.1:5432 (a fresh database per test):
writers in several processes at once lose nothing and duplicate nothing, the tenant's audit
chain stays one chain that `warden audit verify` passes, and a server that does not answer is
the coded ``store_unavailable``. Skipped, saying why, only when no Postgres answers."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.store._setup import put_policy_in_force

from warden.errors import WardenError
from warden.store import Store, audit, runs
from warden.store.audit import verify_chain
from warden.testing import pg_unavailable_reason, scratch_database

REPO = Path(__file__).resolve().parents[2]
POLICY = REPO / "fixtures" / "acme" / "policy.yaml"
PROCESSES = 4
UNITS = 20

pytestmark = pytest.mark.skipif(pg_unavailable_reason() is not None, reason=str(pg_unavailable_reason()))

# One writer process: UNITS units of work for its own run of tenant acme, each a ledger flush (a
# step, its finding, its step_completed event) plus an event audited directly in the same
# transaction; every unit is then flushed again (a retried activity), which must change nothing.
WRITER = textwrap.dedent(
    """
    import sys, time
    from warden.schemas.finding import Finding
    from warden.store import Store, audit, ledger
    url, run_id, units, start_at = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    store = Store("/nonexistent/warden.duckdb", url=url)
    with store.connect(read_only=True) as con:  # schema ready before the start line
        con.execute("SELECT 1")
    while time.time() < start_at:
        time.sleep(0.005)
    for i in range(units):
        finding = Finding(id=f"f{i}", analyser="a", code="c", title="t", severity="low",
                          category="x", message=f"{run_id} {i}")
        records = [
            ledger.step_record(run_id=run_id, step_id=f"s{i}", kind="analyser", analyser="a",
                               system_id=None, status="completed", attempts=1,
                               started_at=ledger.stamp(), finished_at=ledger.stamp(), duration_s=0.01,
                               output={"i": i}, output_schema="findings"),
            ledger.findings_record([finding], run_id=run_id, root_run_id=run_id, step_id=f"s{i}",
                                   tenant="acme"),
            ledger.audit_record(run_id=run_id, root_run_id=run_id, tenant="acme", actor="warden",
                                event="step_completed", payload={"step": f"s{i}"},
                                key=f"{run_id}:s{i}:completed"),
        ]
        for _ in range(2):  # the second time: a retry of the same unit of work
            with store.connect() as con:
                ledger.flush(con, records)
                audit.audit(con, run_id=run_id, root_run_id=run_id, tenant="acme", actor="warden",
                            event="cost_recorded", payload={"i": i}, key=f"{run_id}:cost:{i}")
    print("done", run_id)
    """
)


@pytest.fixture
def pg_url() -> Iterator[str]:
    with scratch_database("warden_pgledger") as url:
        yield url


def _make_tenant(store: Store) -> None:
    with store.connect() as con:
        put_policy_in_force(con, POLICY)
        for p in range(PROCESSES):
            runs.create_run(
                con, runs.RunRow(f"r{p}", f"r{p}", None, None, 0, f"r{p}", None, "acme", "ana@acme")
            )


def test_writers_in_four_processes_lose_nothing_duplicate_nothing_and_keep_one_chain(
    pg_url: str, tmp_path: Path
) -> None:
    store = Store(tmp_path / "warden.duckdb", url=pg_url)
    _make_tenant(store)
    with store.connect() as con:
        audit.audit(con, run_id=None, root_run_id=None, tenant="acme", actor="test", event="started")
    start_at = time.time() + 3.0
    env = {**os.environ, "WARDEN_LEDGER_URL": pg_url}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, pg_url, f"r{p}", str(UNITS), str(start_at)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for p in range(PROCESSES)
    ]
    outcomes = [proc.communicate(timeout=300) for proc in procs]
    for proc, (out, err) in zip(procs, outcomes, strict=True):
        assert proc.returncode == 0, err
        assert out.startswith("done"), (out, err)

    count = store.query
    assert count("SELECT count(*) AS n FROM steps")[0]["n"] == PROCESSES * UNITS
    assert count("SELECT count(*) AS n FROM findings")[0]["n"] == PROCESSES * UNITS
    events = count(
        "SELECT event_key, chain_no, seq FROM audit_events WHERE tenant = 'acme' ORDER BY chain_no"
    )
    assert len(events) == 1 + 2 * PROCESSES * UNITS, "every event once, none lost"
    assert len({e["event_key"] for e in events if e["event_key"]}) == 2 * PROCESSES * UNITS
    assert [e["chain_no"] for e in events] == list(range(1, len(events) + 1)), "one unbroken chain"
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events), "seq follows chain_no"
    # the writers really interleaved: the runs' events alternate somewhere in the chain
    owners = [e["event_key"].split(":")[0] for e in events if e["event_key"]]
    assert sum(a != b for a, b in itertools.pairwise(owners)) > PROCESSES

    with store.connect(read_only=True) as con:
        report = verify_chain(con, "acme")
    assert report.ok and report.head_no == len(events), report.problem
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARDEN_")}
    env.update(WARDEN_HOME=str(tmp_path), WARDEN_LEDGER_URL=pg_url, NO_COLOR="1", COLUMNS="200")
    done = subprocess.run(
        [sys.executable, "-m", "warden", "audit", "verify", "--as", "dora@acme", "--policy", str(POLICY)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert f"tenant acme: intact, {len(events)} event(s) checked" in done.stdout
    assert not (tmp_path / "warden.duckdb").exists(), "nothing went to a DuckDB file"


def test_a_lost_race_on_a_row_is_a_write_conflict_the_callers_retry_paths_recognise(
    pg_url: str, tmp_path: Path
) -> None:
    """Snapshot isolation as on DuckDB: two claims of one waiting run, the second in a
    transaction whose snapshot predates the first's commit, fail as a write conflict."""
    from warden.store import is_write_conflict

    store = Store(tmp_path / "warden.duckdb", url=pg_url)
    _make_tenant(store)
    with store.connect() as con:
        runs.set_status(con, "r0", "waiting_approval")
    with store.connect() as late:
        late.execute("SELECT count(*) FROM runs").fetchone()  # the snapshot is taken here
        with store.connect() as first:
            assert runs.claim(first, "r0", "host-a:1")
        with pytest.raises(Exception) as caught:
            runs.claim(late, "r0", "host-b:2")
        assert is_write_conflict(caught.value), caught.value
    assert store.query("SELECT claimed_by FROM runs WHERE run_id = 'r0'") == [{"claimed_by": "host-a:1"}]


def test_an_unreachable_postgres_is_the_coded_store_unavailable_with_a_fix(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = Store(tmp_path / "warden.duckdb", url=f"postgresql://postgres:secret@127.0.0.1:{port}/warden")
    with pytest.raises(WardenError) as caught:
        store.ping()
    assert caught.value.code == "store_unavailable"
    assert "secret" not in caught.value.message and "127.0.0.1" in caught.value.message
    assert caught.value.fix and "WARDEN_LEDGER_URL" in caught.value.fix

    env = {k: v for k, v in os.environ.items() if not k.startswith("WARDEN_")}
    env.update(
        WARDEN_HOME=str(tmp_path),
        WARDEN_LEDGER_URL=f"postgresql://postgres@127.0.0.1:{port}/warden",
        NO_COLOR="1",
    )
    done = subprocess.run(
        [sys.executable, "-m", "warden", "runs", "--as", "dora@acme", "--policy", str(POLICY)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "store_unavailable" in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert "fix:" in done.stderr
    doctor = subprocess.run(
        [sys.executable, "-m", "warden", "doctor", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert doctor.returncode == 1, doctor.stdout + doctor.stderr
    store = json.loads(doctor.stdout)["engine"]["store"]
    assert (store["ledger"], store["ok"], store["code"]) == ("postgres", False, "store_unavailable"), store
    assert store["fix"]


def test_a_missing_database_and_a_bad_url_are_coded_too(pg_url: str, tmp_path: Path) -> None:
    missing = pg_url.rsplit("/", 1)[0] + "/warden_no_such_database"
    with pytest.raises(WardenError) as caught:
        Store(tmp_path / "warden.duckdb", url=missing).ping()
    assert caught.value.code == "store_unavailable" and "warden_no_such_database" in caught.value.message
    with pytest.raises(WardenError) as bad:
        Store(tmp_path / "warden.duckdb", url="mysql://x@y/z")
    assert bad.value.code == "ledger_url_invalid" and bad.value.fix


def test_the_schema_is_created_once_by_processes_starting_together_and_upgrades_are_idempotent(
    pg_url: str, tmp_path: Path
) -> None:
    script = (
        "import sys; from warden.store import Store; "
        "Store('/nonexistent/w.duckdb', url=sys.argv[1]).ping(); print('ok')"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, pg_url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0 and out.strip() == "ok", err
    from warden.store.schema import SCHEMA_VERSION

    again = Store(tmp_path / "w.duckdb", url=pg_url)
    assert again.query("SELECT value FROM meta WHERE key = 'schema_version'") == [
        {"value": str(SCHEMA_VERSION)}
    ]
    assert again.generation() is None and again.backend == "postgres" and again.exists()


def test_a_row_held_past_the_lock_timeout_is_store_busy_and_the_timeout_follows_the_store(
    pg_url: str, tmp_path: Path
) -> None:
    import psycopg

    store = Store(tmp_path / "warden.duckdb", url=pg_url, lock_timeout_s=0.3)
    with store.connect() as con:
        con.execute("INSERT INTO meta VALUES ('held', '1')")
    assert store.query("SHOW lock_timeout") == [{"lock_timeout": "300ms"}]
    with psycopg.connect(pg_url) as other:  # another process holds the row, uncommitted
        other.execute("UPDATE meta SET value = '2' WHERE key = 'held'")
        with pytest.raises(WardenError) as busy, store.connect() as con:
            con.execute("UPDATE meta SET value = '3' WHERE key = 'held'")
        other.rollback()
    assert busy.value.code == "store_busy" and busy.value.fix
    store.lock_timeout_s = 5
    assert store.query("SHOW lock_timeout") == [{"lock_timeout": "5s"}]
    assert store.query("SELECT value FROM meta WHERE key = 'held'") == [{"value": "1"}]
