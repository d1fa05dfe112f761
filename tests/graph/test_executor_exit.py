"""A process that abandoned a timed-out analyser call still inside DuckDB exits cleanly: the
interpreter unwinds daemon threads by force at exit, which DuckDB's C++ turns into an abort
(exit 134) of a process whose work is done, unless the exit waits for the call."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

_ABANDON_THEN_EXIT = (
    "import sys, duckdb\n"
    "from warden.graph.executor import StepTimeout, call_with_timeout\n"
    "con = duckdb.connect(sys.argv[1])\n"
    "con.execute('CREATE TABLE t AS SELECT range AS i FROM range(200000)')\n"
    "def scan():\n"
    "    for _ in range(int(sys.argv[2])):\n"
    "        con.cursor().execute('SELECT sum(i * i) FROM t').fetchall()\n"
    "try:\n"
    "    call_with_timeout(scan, 0.01)\n"
    "except StepTimeout:\n"
    "    print('abandoned')\n"
)


def _ends(script: str, database: Path, loops: int) -> tuple[int, str]:
    """Run `script` in a fresh interpreter: its exit code and what it printed (stderr on failure)."""
    done = subprocess.run(
        [sys.executable, "-c", script, str(database), str(loops)], capture_output=True, text=True, timeout=120
    )
    if done.returncode < 0:
        print(done.stderr[-2000:])
    return done.returncode, done.stdout.strip()


def test_a_process_exits_cleanly_after_abandoning_a_call_inside_duckdb(tmp_path: Path) -> None:
    for attempt, loops in enumerate((40, 80, 160)):
        assert _ends(_ABANDON_THEN_EXIT, tmp_path / f"s{attempt}.duckdb", loops) == (0, "abandoned")


_INTERRUPT_THEN_EXIT = (
    "import os, signal, sys, threading, duckdb\n"
    "from warden.graph.executor import call_with_timeout\n"
    "con = duckdb.connect(sys.argv[1])\n"
    "con.execute('CREATE TABLE t AS SELECT range AS i FROM range(1000000)')\n"
    "def scan():\n"
    "    for _ in range(int(sys.argv[2])):\n"
    "        con.cursor().execute('SELECT sum(i * i) FROM t').fetchall()\n"
    "threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT)).start()\n"
    "try:\n"
    "    call_with_timeout(scan, 60)\n"
    "except KeyboardInterrupt:\n"
    "    print('interrupted', flush=True)\n"
    "    sys.exit(130)\n"
)


def test_a_process_interrupted_while_a_call_runs_inside_duckdb_exits_with_its_own_code(
    tmp_path: Path,
) -> None:
    """Ctrl-C while a step (with a timeout) runs: the wait is interrupted, the call goes on in
    its worker, and the process still ends with its own exit code, not an abort."""
    for attempt, loops in enumerate((400, 800)):  # ~3 ms each: still scanning at the Ctrl-C
        assert _ends(_INTERRUPT_THEN_EXIT, tmp_path / f"i{attempt}.duckdb", loops) == (130, "interrupted")
