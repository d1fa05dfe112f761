"""A process that abandoned a timed-out analyser call still inside DuckDB exits cleanly: the
interpreter unwinds daemon threads by force at exit, which DuckDB's C++ turns into an abort
(exit 134) of a process whose work is done, unless the exit waits for the call."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

_ABANDON_THEN_EXIT = (
    "import sys, time, duckdb\n"
    "from warden.graph.executor import StepTimeout, call_with_timeout\n"
    "con = duckdb.connect(sys.argv[1])\n"
    "con.execute('CREATE TABLE t AS SELECT range AS i FROM range(200000)')\n"
    "def scan():\n"  # inside DuckDB, off and on, for argv[2] seconds
    "    end = time.monotonic() + float(sys.argv[2])\n"
    "    while time.monotonic() < end:\n"
    "        con.cursor().execute('SELECT sum(i * i) FROM t').fetchall()\n"
    "try:\n"
    "    call_with_timeout(scan, 0.01)\n"
    "except StepTimeout:\n"
    "    print('abandoned')\n"
)


def _ends(script: str, database: Path, seconds: float) -> tuple[int, str]:
    """Run `script` in a fresh interpreter: its exit code and what it printed (stderr on failure)."""
    command = [sys.executable, "-c", script, str(database), str(seconds)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if done.returncode < 0:
        print(done.stderr[-2000:])
    return done.returncode, done.stdout.strip()


def test_a_process_exits_cleanly_after_abandoning_a_call_inside_duckdb(tmp_path: Path) -> None:
    for attempt, seconds in enumerate((0.1, 0.3, 0.6)):
        assert _ends(_ABANDON_THEN_EXIT, tmp_path / f"s{attempt}.duckdb", seconds) == (0, "abandoned")


_INTERRUPT_THEN_EXIT = (
    "import os, signal, sys, threading, time, duckdb\n"
    # as a terminal's process has it: a child inherits its parent's blocked signals and an
    # ignored SIGINT, and the full test session's process can have SIGINT blocked by then
    "signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT])\n"
    "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
    "from warden.graph.executor import call_with_timeout\n"
    "con = duckdb.connect(sys.argv[1])\n"
    "con.execute('CREATE TABLE t AS SELECT range AS i FROM range(1000000)')\n"
    "scanning = threading.Event()\n"
    "def scan():\n"  # inside DuckDB, off and on, for argv[2] seconds
    "    scanning.set()\n"
    "    end = time.monotonic() + float(sys.argv[2])\n"
    "    while time.monotonic() < end:\n"
    "        con.cursor().execute('SELECT sum(i * i) FROM t').fetchall()\n"
    "def interrupt():\n"  # Ctrl-C once the step is under way, at the main thread (a process-
    "    scanning.wait()\n"  # wide SIGINT may land on a thread inside DuckDB, which can swallow it)
    "    time.sleep(0.2)\n"
    "    signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)\n"
    "threading.Thread(target=interrupt, daemon=True).start()\n"
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
    import signal

    inherited = (signal.pthread_sigmask(signal.SIG_BLOCK, []), signal.getsignal(signal.SIGINT))
    for attempt, seconds in enumerate((1.5, 3.0)):  # still scanning at the Ctrl-C
        ended = _ends(_INTERRUPT_THEN_EXIT, tmp_path / f"i{attempt}.duckdb", seconds)
        assert ended == (130, "interrupted"), (ended, "blocked, SIGINT handler here:", inherited)
