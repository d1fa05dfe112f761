"""Store.linger_s: a long-lived process's DuckDB file stays open a moment after its last hold,
for the next to reuse; then it closes. Another process that wants the file announces itself
and gets it at the end of the holder's current hold; a kill while lingering loses nothing
committed. (The DuckDB file itself: nothing lingers on Postgres.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from warden.store import Store, runs
from warden.store.connection import YIELD_S

pytestmark = pytest.mark.duckdb_only

_TRY_WRITE = (
    "import sys; from warden.store import Store, StoreBusy\n"
    "s = Store(sys.argv[1], lock_timeout_s=float(sys.argv[2]))\n"
    "try:\n"
    "    with s.connect() as con:\n"
    "        con.execute(\"INSERT INTO meta VALUES ('other', 'x') ON CONFLICT DO NOTHING\")\n"
    "except StoreBusy: print('busy')\n"
    "else: print('wrote')\n"
)


def _other_process_writes(path: Path, timeout_s: float = 0.3) -> str:
    done = subprocess.run(
        [sys.executable, "-c", _TRY_WRITE, str(path), str(timeout_s)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _row(n: int) -> runs.RunRow:
    return runs.RunRow(f"r{n}", f"r{n}", None, None, 0, f"r{n}", None, "acme", "u")


def _lingering(tmp_path: Path, linger_s: float) -> Store:
    """A store that wrote one run and now lingers with the file open."""
    store = Store(tmp_path / "warden.duckdb")
    store.linger_s = linger_s
    with store.hold(), store.connect() as con:
        runs.create_run(con, _row(0))
    assert store._anchor is not None
    return store


def _wait_until(check, seconds: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.01)
    return bool(check())


def test_a_hold_within_the_linger_reuses_the_open_file(tmp_path: Path) -> None:
    store = Store(tmp_path / "warden.duckdb")
    store.linger_s = 30.0
    for n in range(5):
        with store.hold():
            with store.connect() as con:
                runs.create_run(con, _row(n))
            generation = store.generation()
            assert generation is not None
        assert store._anchor is not None, "lingering"
        with store.hold():  # nothing written or reopened in between: what was read stands
            assert store.generation() == generation
    with store.connect(read_only=True) as con:  # a unit of work outside a hold uses it too
        assert len(con.execute("SELECT * FROM runs").fetchall()) == 5
    assert store.opened == 1
    assert store._anchor is not None
    store.close()
    assert store._anchor is None
    assert _other_process_writes(store.path) == "wrote"


def test_a_lingering_file_is_given_up_to_a_process_that_asks_for_it(tmp_path: Path) -> None:
    store = _lingering(tmp_path, 600.0)
    # it announces itself at its first refusal; the lingering store closes within ~50 ms
    assert _other_process_writes(store.path, timeout_s=5.0) == "wrote"
    assert store._anchor is None
    with store.hold(), store.connect(read_only=True) as con:
        assert con.execute("SELECT value FROM meta WHERE key = 'other'").fetchone()[0] == "x"
    assert store.opened == 2
    store.close()


def test_without_linger_the_last_hold_closes_the_file(tmp_path: Path) -> None:
    store = Store(tmp_path / "warden.duckdb")
    for n in range(3):
        with store.hold(), store.connect() as con:
            runs.create_run(con, _row(n))
        assert store._anchor is None
    assert store.opened == 3


def test_the_file_closes_after_the_linger_and_the_generation_moves_on(tmp_path: Path) -> None:
    store = Store(tmp_path / "warden.duckdb")
    store.linger_s = 0.2
    with store.hold():
        with store.connect() as con:
            runs.create_run(con, _row(0))
        before = store.generation()
        policies_before = store.generation(["policies"])
    assert _wait_until(lambda: store._anchor is None, 5.0), "closed after the linger"
    assert _other_process_writes(store.path) == "wrote"
    with store.hold():
        with store.connect(read_only=True) as con:
            con.execute("SELECT 1")
        # reopened: another process may have written (it did), nothing read before is reused
        assert store.generation() != before
        assert store.generation(["policies"]) != policies_before
    assert store.opened == 2


def test_a_write_of_a_table_family_moves_only_its_generation(tmp_path: Path) -> None:
    from warden.store import policies

    store = Store(tmp_path / "warden.duckdb")
    with store.hold():
        with store.connect() as con:
            runs.create_run(con, _row(0))
        marked = store.generation([policies.TABLES])
        with store.connect() as con:
            runs.create_run(con, _row(1))
        assert store.generation([policies.TABLES]) == marked, "another table written"
        with store.connect() as con:
            policies.put_policy(con, sha256="s", text="t", base_dir="/", source="p")
        assert store.generation([policies.TABLES]) != marked
        marked = store.generation([policies.TABLES])
        with pytest.raises(RuntimeError), store.connect() as con:  # rolled back: nothing written
            policies.put_policy(con, sha256="s2", text="t", base_dir="/", source="p")
            raise RuntimeError("boom")
        assert store.generation([policies.TABLES]) == marked


def test_a_store_of_the_same_process_reading_the_file_another_way_gets_it(tmp_path: Path) -> None:
    store = _lingering(tmp_path, 60.0)
    reader = Store(store.path, lock_timeout_s=5)
    started = time.monotonic()
    with reader.connect(read_only=True) as con:  # read-only beside a read-write connection: refused
        assert con.execute("SELECT count(*) FROM runs").fetchone()[0] == 1
    assert time.monotonic() - started < 3.0, "the lingering store let go at once"
    assert store._anchor is None


def test_a_waiting_process_gets_the_file_while_this_one_holds_back_to_back(tmp_path: Path) -> None:
    """The holder never leaves a gap (each hold starts while the last one's file lingers), and
    the cap on continuous holding is out of reach: the waiter gets in because it announced
    itself, at the end of the holder's current hold."""
    store = Store(tmp_path / "warden.duckdb")
    store.linger_s = 5.0
    store.linger_cap_s = 600.0
    hold_s = 0.3
    with store.hold(), store.connect() as con:
        runs.create_run(con, _row(0))
    waiter = subprocess.Popen(
        [sys.executable, "-c", _TRY_WRITE, str(store.path), "60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        n, waited_from, got_in = 0, None, None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            n += 1
            with store.hold():  # an analysis: writes, then work, all inside the hold
                with store.connect() as con:
                    runs.create_run(con, _row(n))
                time.sleep(hold_s)
            if waited_from is None and (store.path.parent / "warden.duckdb.waiting").exists():
                waited_from = time.monotonic()  # (its first refusal was before this, within a hold)
            if waiter.poll() is not None:
                got_in = time.monotonic()
                break
        out, err = waiter.communicate(timeout=60)
    finally:
        if waiter.poll() is None:
            waiter.kill()
    assert out.strip() == "wrote", err
    assert waited_from is not None and got_in is not None
    # one hold (it announced during it), the waiter's longest sleep between retries (1 s), its
    # write and exit; the holder's own loop adds a hold at most
    assert got_in - waited_from < 2 * hold_s + YIELD_S + 3.0, got_in - waited_from
    assert n >= 2
    with store.hold(), store.connect(read_only=True) as con:  # the holder carried on after it
        assert con.execute("SELECT value FROM meta WHERE key = 'other'").fetchone()[0] == "x"
    store.close()


_LINGER_AND_DIE = """
import sys, time
from warden.store import Store, runs
store = Store(sys.argv[1])
store.linger_s = 600.0
for n in range(3):
    with store.hold(), store.connect() as con:
        runs.create_run(con, runs.RunRow(f"r{n}", f"r{n}", None, None, 0, f"r{n}", None, "acme", "u"))
        runs.set_status(con, f"r{n}", "completed")
assert store._anchor is not None
print("lingering", flush=True)
time.sleep(600)
"""


def test_a_kill_while_lingering_loses_nothing_committed(tmp_path: Path) -> None:
    path = tmp_path / "warden.duckdb"
    child = subprocess.Popen(
        [sys.executable, "-c", _LINGER_AND_DIE, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "lingering"
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL
    rows = Store(path).query("SELECT run_id, status FROM runs ORDER BY run_id")
    assert rows == [{"run_id": f"r{n}", "status": "completed"} for n in range(3)]


_EXIT_WHILE_CLOSING = (
    "import sys, time; from warden.store import Store, runs\n"
    "store = Store(sys.argv[1])\n"
    "store.linger_s = float(sys.argv[2])\n"
    "for n in range(int(sys.argv[3])):\n"
    "    with store.hold(), store.connect() as con:\n"
    "        runs.create_run(con, runs.RunRow(f'r{n}', f'r{n}', None, None, 0, f'r{n}', None, 'acme', 'u'))\n"
    "    time.sleep(min(float(sys.argv[2]), 0.01) * (n % 3) / 2)\n"
)


@pytest.mark.parametrize("linger_s", [0.0005, 0.002, 0.01, 30.0])
def test_a_process_exiting_while_its_file_lingers_or_closes_exits_cleanly(
    tmp_path: Path, linger_s: float
) -> None:
    """The watchdog closes a lingering file in its own daemon thread; a process that ends
    while that close runs used to abort (exit 134: the interpreter unwinds daemon threads by
    force, DuckDB's C++ turns that into an abort) after all its work succeeded. Each run
    ends at a different point of the watchdog's cycle; each must exit 0 with its runs stored."""
    for attempt in range(6):
        path = tmp_path / f"w{attempt}.duckdb"
        done = subprocess.run(
            [sys.executable, "-c", _EXIT_WHILE_CLOSING, str(path), str(linger_s), str(3 + attempt)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, (attempt, done.returncode, done.stderr[-2000:])
        store = Store(path)
        with store.connect(read_only=True) as con:
            assert con.execute("SELECT count(*) FROM runs").fetchone() == (3 + attempt,)
