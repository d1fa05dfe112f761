"""Store.hold(): one open file for a run of units of work, given back to other processes on
release; bulk inserts that keep executemany's results (dedupe, upsert) without its cost."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from warden.schemas import Finding
from warden.store import Store, findings, runs

_TRY_WRITE = (
    "import sys; from warden.store import Store, StoreBusy\n"
    "s = Store(sys.argv[1], lock_timeout_s=0.3)\n"
    "try:\n"
    "    with s.connect() as con:\n"
    "        con.execute(\"INSERT INTO meta VALUES ('other', 'x') ON CONFLICT DO NOTHING\")\n"
    "except StoreBusy: print('busy')\n"
    "else: print('wrote')\n"
)


def _other_process_writes(path: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-c", _TRY_WRITE, str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _finding(fid: str, message: str = "m") -> Finding:
    return Finding(id=fid, analyser="a", code="c", title="t", severity="high", category="x", message=message)


def test_units_of_work_inside_a_hold_open_the_file_once(tmp_path: Path) -> None:
    store = Store(tmp_path / "warden.duckdb")
    with store.hold():
        for n in range(20):
            with store.connect() as con:
                runs.create_run(con, runs.RunRow(f"r{n}", f"r{n}", None, None, 0, f"r{n}", None, "acme", "u"))
            with store.connect(read_only=True) as con:  # read-only inside a hold: no config clash
                assert runs.get_run(con, f"r{n}") is not None
    assert store.opened == 1
    assert len(store.query("SELECT run_id FROM runs")) == 20


def test_a_failed_unit_inside_a_hold_rolls_back_alone(tmp_path: Path) -> None:
    store = Store(tmp_path / "warden.duckdb")
    with store.hold():
        with store.connect() as con:
            runs.create_run(con, runs.RunRow("kept", "kept", None, None, 0, "kept", None, "acme", "u"))
        with pytest.raises(RuntimeError), store.connect() as con:
            runs.create_run(con, runs.RunRow("lost", "lost", None, None, 0, "lost", None, "acme", "u"))
            raise RuntimeError("boom")
    assert [r["run_id"] for r in store.query("SELECT run_id FROM runs")] == ["kept"]


@pytest.mark.duckdb_only
def test_release_lets_another_process_write_and_the_hold_reopens(tmp_path: Path) -> None:
    store = Store(tmp_path / "warden.duckdb")
    with store.hold():
        with store.connect() as con:
            runs.create_run(con, runs.RunRow("r", "r", None, None, 0, "r", None, "acme", "u"))
        assert _other_process_writes(store.path) == "busy"  # held: others wait
        store.release()
        assert _other_process_writes(store.path) == "wrote"
        with store.connect() as con:
            runs.set_status(con, "r", "completed")
    assert store.opened == 2
    assert _other_process_writes(store.path) == "wrote"  # the hold's exit closed the file


def test_bulk_upsert_keeps_one_row_per_id_and_the_last_message(tmp_path: Path) -> None:
    store = Store(tmp_path / "warden.duckdb")
    with store.connect() as con:
        n = findings.upsert_findings(
            con,
            [_finding("a", "first"), _finding("b"), _finding("a", "second")],
            run_id="r",
            root_run_id="r",
            step_id="s",
            tenant="acme",
        )
        findings.upsert_findings(
            con, [_finding("b", "again")], run_id="r", root_run_id="r", step_id="s", tenant="acme"
        )
    assert n == 2
    got = store.query("SELECT finding_id, message FROM findings ORDER BY finding_id")
    assert got == [{"finding_id": "a", "message": "second"}, {"finding_id": "b", "message": "again"}]


@pytest.mark.duckdb_only
def test_work_outlasting_release_after_gives_the_file_to_other_processes(tmp_path: Path) -> None:
    store = Store(tmp_path / "warden.duckdb")
    with store.hold():
        with store.connect() as con:
            runs.create_run(con, runs.RunRow("r", "r", None, None, 0, "r", None, "acme", "u"))
        with store.release_after(0.05):
            deadline = time.monotonic() + 30
            while store._anchor is not None and time.monotonic() < deadline:  # the timer fired?
                time.sleep(0.01)
            assert _other_process_writes(store.path) == "wrote"
        with store.connect() as con:
            runs.set_status(con, "r", "completed")
    assert store.opened == 2


def test_short_work_inside_release_after_keeps_the_file_open(tmp_path: Path) -> None:
    store = Store(tmp_path / "warden.duckdb")
    with store.hold():
        for _ in range(3):
            with store.release_after(60), store.connect() as con:
                con.execute("SELECT 1")
    assert store.opened == 1


@pytest.mark.duckdb_only
def test_stores_of_one_process_opening_and_closing_one_file_at_once_all_get_in(tmp_path: Path) -> None:
    """Two servers over one state directory in one process: their stores open and close the
    file at once. DuckDB refuses a connect while another thread's close is still detaching
    the file ("Unique file handle conflict"); that is a wait, not a failure of the request."""
    import threading

    path = tmp_path / "warden.duckdb"
    with Store(path).connect() as con:  # creates the file and its schema
        con.execute("SELECT 1")
    failures: list[str] = []

    def units(store: Store) -> None:
        for _ in range(400):
            try:
                with store.hold(), store.connect() as con:  # as a decision's unit of work
                    con.execute("SELECT count(*) FROM runs").fetchone()
            except Exception as exc:  # every failure counts, whatever its kind
                failures.append(str(exc).splitlines()[0])

    threads = [threading.Thread(target=units, args=(Store(path),)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
