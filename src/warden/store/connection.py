"""Short-lived DuckDB connections that wait for the lock instead of failing.

DuckDB lets one process write a file at a time, and a reader cannot open it while a writer
holds it. Every operation opens, works and closes, retrying while another process holds the
lock, so an analyst, an approver and a notebook can share one state directory.

Opening costs ~40 ms of DuckDB start-up whatever the file's size, and a run does ~60 units of
work, so a graph invocation wraps itself in ``Store.hold()``: the file stays open across its
units of work (each then a ~1 ms cursor), and ``Store.release_after()`` closes it when work
that does not touch the store (an analyser, a document load) runs longer than a second, so
other processes get their turn. A hold never outlives the invocation, so no connection is
held across an interrupt.

A file that cannot be used (corrupt, truncated, a directory, read-only, a full disk) raises the
coded :class:`~warden.store.faults.StorageFault` that :func:`~warden.store.faults.store_fault`
names, whether it shows on opening or on a later statement or commit; only a real lock error is
waited for and, past the timeout, reported as ``store_busy``. The file itself is never touched.
"""

from __future__ import annotations

import heapq
import itertools
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from warden.errors import WardenError
from warden.store.faults import StorageFault, StoreBusy, is_lock_error, store_fault
from warden.store.home import ledger_url

__all__ = ["Store", "StoreBusy", "is_write_conflict"]

_is_lock_error = is_lock_error  # the name older code and tests import

_GENERATIONS: dict[str, int] = {}
"""Per database file (resolved path): bumped by every committed write and every open in this
process. While a hold keeps the file open read-write no other process can open it, so an
unchanged generation means the file's content has not changed: what was read from it at that
generation may be reused (:meth:`Store.generation`)."""
_GEN_LOCK = threading.Lock()


def is_write_conflict(exc: BaseException) -> bool:
    """True when a transaction lost a race to another one (DuckDB's optimistic concurrency on
    the same rows, or two appends to one tenant's audit chain taking the same ``chain_no``):
    nothing of it was committed, and the caller may retry the work."""
    import duckdb

    if type(exc).__module__.startswith("psycopg"):
        from warden.store.postgres import is_pg_conflict

        return is_pg_conflict(exc)
    if isinstance(exc, duckdb.TransactionException):
        return True
    text = str(exc)
    return (isinstance(exc, duckdb.ConstraintException) and "chain_no" in text) or "conflict" in text.lower()


class _Watchdog:
    """One daemon thread runs the callbacks whose time has come (:meth:`Store.release_after`),
    instead of a timer thread started and cancelled for every step of every graph."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._due: list[list[Any]] = []  # heap of [deadline, n, callback, cancelled]
        self._n = itertools.count()
        self._thread: threading.Thread | None = None

    def schedule(self, seconds: float, callback: Callable[[], None]) -> list[Any]:
        entry = [time.monotonic() + seconds, next(self._n), callback, False]
        with self._cond:
            heapq.heappush(self._due, entry)
            if self._thread is None or not self._thread.is_alive():  # (or after a fork)
                self._thread = threading.Thread(target=self._run, name="warden-store-watchdog", daemon=True)
                self._thread.start()
            self._cond.notify()
        return entry

    def cancel(self, entry: list[Any]) -> None:
        with self._cond:
            entry[3] = True

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._due and self._due[0][3]:
                    heapq.heappop(self._due)  # cancelled: dropped unrun
                if not self._due:
                    self._cond.wait()
                    continue
                wait = self._due[0][0] - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                entry = heapq.heappop(self._due)
            with suppress(Exception):  # a callback reports its own failures
                entry[2]()


_WATCHDOG = _Watchdog()


class Store:
    """The ledger: the DuckDB file under the state directory, or the Postgres database that
    ``$WARDEN_LEDGER_URL`` names (`url`: None reads the setting, "" forces the DuckDB file).

    Either way the same calls: units of work from :meth:`connect`, :meth:`hold`,
    :meth:`release_after`, :meth:`query`, :meth:`ping`. On Postgres a hold, a release and the
    generation have nothing to do (connections are pooled, other hosts write at any time)."""

    def __init__(self, path: str | Path, *, lock_timeout_s: float = 60.0, url: str | None = None) -> None:
        self.path = Path(path)
        self.url = (ledger_url() if url is None else url) or None
        self._pg: Any = None
        if self.url is not None:
            from warden.store.postgres import PostgresLedger

            self._pg = PostgresLedger(self.url, lock_timeout_s=lock_timeout_s)
        self._lock_timeout_s = lock_timeout_s
        self._schema_ready = False
        self._holds = 0
        self._anchor: Any = None  # the connection a hold keeps open, opened on first use
        self._mutex = threading.RLock()
        self._in_use = 0  # cursors of the held file now in use
        self._writer = threading.RLock()
        self.threaded = False
        """Set by a multi-threaded entry point (the server): write units of work of this process
        take turns (as DuckDB's file lock makes processes do: the audit chain and the claim of a
        decision rely on one writer at a time), and reads open read-write connections, since
        DuckDB refuses a read-only and a read-write connection to one file in one process."""
        self.opened = 0
        """How many times this process opened the file (the benchmarks report it)."""
        self._key = str(self.path.resolve())

    @property
    def lock_timeout_s(self) -> float:
        return self._lock_timeout_s

    @lock_timeout_s.setter
    def lock_timeout_s(self, seconds: float) -> None:
        self._lock_timeout_s = seconds
        if self._pg is not None:
            self._pg.lock_timeout_s = seconds

    @property
    def backend(self) -> str:
        """Which ledger this store writes: "postgres" or "duckdb"."""
        return "postgres" if self._pg is not None else "duckdb"

    def where(self) -> str:
        """The ledger's location for messages: the DuckDB file, or the URL without a password."""
        if self._pg is None:
            return str(self.path)
        from warden.store.postgres import redact_url

        return redact_url(self._pg.url)

    def exists(self) -> bool:
        """Whether a ledger is there to read (a DuckDB file not yet created is not; a Postgres
        ledger always is: its schema is created on first use)."""
        return self._pg is not None or self.path.exists()

    def close(self) -> None:
        """Close what this store keeps open between units of work (Postgres: idle connections)."""
        if self._pg is not None:
            self._pg.close()

    def _bump(self) -> None:
        with _GEN_LOCK:
            _GENERATIONS[self._key] = _GENERATIONS.get(self._key, 0) + 1

    def generation(self) -> int | None:
        """A number that changes whenever the file's content may have: any write committed in
        this process (through any Store on the file) and any (re)open, after which another
        process may have written; closing the held file changes it too. None outside a hold or
        while the held file is closed (another process may write at any time): nothing read
        may then be reused."""
        with self._mutex:
            if self._holds == 0 or self._anchor is None:
                return None
        with _GEN_LOCK:
            return _GENERATIONS.get(self._key, 0)

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Keep the file open for the units of work inside (re-entrant; the last exit closes it)."""
        with self._mutex:
            self._holds += 1
        try:
            yield
        finally:
            with self._mutex:
                self._holds -= 1
                if self._holds == 0:
                    self.release()

    def release(self) -> None:
        """Close the held file now (before long work that does not touch the store); the next
        unit of work inside the hold opens it again. While another thread's unit of work uses
        a cursor of it, the last such unit closes it instead."""
        if self._pg is not None:
            return
        with self._mutex:
            if self._in_use:
                return
            anchor, self._anchor = self._anchor, None
            if anchor is not None:
                anchor.close()
                self._bump()

    @contextmanager
    def release_after(
        self, seconds: float, before_release: Callable[[], None] | None = None
    ) -> Iterator[None]:
        """Release the held file if the work inside is still running after `seconds`: short
        work keeps the file open (re-opening costs ~40 ms), long work lets other processes in.

        `before_release` runs (in the timer's thread) just before the file is given back, so
        the work in flight can be made visible to the processes that get their turn; once the
        block has exited it never runs, and the exit waits for it if it is running. On Postgres
        nothing is held, so nothing is given back, but the hook still runs: it is what makes a
        long step's progress visible to other processes."""
        lock = threading.Lock()
        closed = [False]

        def fire() -> None:
            with lock:
                if closed[0]:
                    return
                if before_release is not None:
                    with suppress(Exception):  # the hook reports its own success
                        before_release()
                self._release_if_idle()

        entry = _WATCHDOG.schedule(seconds, fire)
        try:
            yield
        finally:
            _WATCHDOG.cancel(entry)
            with lock:
                closed[0] = True

    def _release_if_idle(self) -> None:
        with self._mutex:
            if self._in_use:
                return  # a unit of work is under way (e.g. an analyser recording a cost)
            anchor, self._anchor = self._anchor, None
            if anchor is not None:
                anchor.close()
                self._bump()

    def _held_cursor(self) -> Any:
        with self._mutex:
            if self._anchor is None:
                self._anchor = self._open(read_only=False)
            self._in_use += 1
            return self._anchor.cursor()

    def _done_with(self, con: Any, held: bool) -> None:
        con.close()
        if held:
            anchor = None
            with self._mutex:
                self._in_use -= 1
                if self._in_use == 0 and self._holds == 0:  # the hold ended while this ran
                    anchor, self._anchor = self._anchor, None
                    if anchor is not None:
                        anchor.close()
                        self._bump()

    def _open(self, *, read_only: bool) -> Any:
        """Open the file, waiting while another process holds the lock; set up the schema once."""
        import duckdb

        deadline = time.monotonic() + self.lock_timeout_s
        delay = 0.01
        while True:
            existed = self.path.exists()
            try:
                con = duckdb.connect(str(self.path), read_only=read_only)
                break
            except duckdb.Error as exc:
                if is_lock_error(exc):
                    if time.monotonic() > deadline:
                        raise StoreBusy(
                            f"the Warden database {self.path} is busy: {str(exc).splitlines()[0]}",
                            path=self.path,
                            fix="retry in a moment; another warden process is writing",
                        ) from None
                    time.sleep(delay * (1 + random.random()))
                    delay = min(delay * 2, 0.5)
                    continue
                if not existed:
                    self._forget_failed_creation()
                fault = store_fault(exc, self.path, writing=not read_only)
                if fault is None:
                    raise
                raise fault from exc
        self.opened += 1
        self._bump()
        if not read_only and not self._schema_ready:
            try:
                from warden.store.schema import DDL, SCHEMA_VERSION, upgrade

                for statement in DDL:
                    con.execute(statement)
                upgrade(con)
                con.execute(
                    """INSERT INTO meta VALUES ('schema_version', ?) ON CONFLICT DO UPDATE
                       SET value = excluded.value WHERE TRY_CAST(meta.value AS INTEGER) < ?""",
                    [str(SCHEMA_VERSION), SCHEMA_VERSION],
                )
            except BaseException as exc:
                con.close()
                fault = store_fault(exc, self.path) if isinstance(exc, Exception) else None
                if fault is None:
                    raise
                raise fault from exc
            self._schema_ready = True
        return con

    def _forget_failed_creation(self) -> None:
        """DuckDB may leave an empty file behind when creating the store failed (a full disk):
        remove it only when it is empty, so the next attempt is not told the store is corrupt.
        A file with any byte in it is never removed."""
        for leftover in (self.path, self.path.with_name(self.path.name + ".wal")):
            try:
                if leftover.is_file() and leftover.stat().st_size == 0:
                    leftover.unlink()
            except OSError:
                pass

    @contextmanager
    def connect(self, *, read_only: bool = False) -> Iterator:  # type: ignore[type-arg]
        """A connection for one unit of work; writes commit together or not at all."""
        if self._pg is not None:
            with self._pg_connect(read_only=read_only) as pg:
                yield pg
            return
        if read_only and not self.path.exists():
            raise WardenError(
                f"no Warden database at {self.path}",
                fix="run `warden analyse` first, or set WARDEN_HOME to the state directory",
                code="no_store",
            )
        if not read_only:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                fault = store_fault(exc, self.path)
                if fault is None:
                    raise
                raise fault from None
        # inside a hold: a cursor of the open file (read-only work just skips the transaction;
        # DuckDB refuses a read-only and a read-write connection to one file in one process)
        # threaded: every unit of work is a cursor of one anchor connection, opened and closed
        # under the mutex (two threads opening the file at once make DuckDB refuse the second
        # attach); it closes when no unit of work or hold uses it, so other processes get turns
        held = self._holds > 0 or self.threaded
        if self.threaded and not read_only:
            self._writer.acquire()
        try:
            con = self._held_cursor() if held else self._open(read_only=read_only and not self.threaded)
            try:
                if read_only:
                    yield con
                else:
                    con.execute("BEGIN TRANSACTION")
                    try:
                        yield con
                    except BaseException:
                        with suppress(Exception):  # the transaction may be gone already (a failed write)
                            con.execute("ROLLBACK")
                        raise
                    con.execute("COMMIT")
                    self._bump()
            except StorageFault:
                raise
            except Exception as exc:
                # a statement or the commit failed on the file itself (full disk, corruption met
                # mid-query): the coded error; anything else (a bug, a constraint) as it was
                fault = store_fault(exc, self.path, writing=not read_only) if _is_duckdb_error(exc) else None
                if fault is None:
                    raise
                raise fault from exc
            finally:
                self._done_with(con, held)
        finally:
            if self.threaded and not read_only:
                self._writer.release()

    @contextmanager
    def _pg_connect(self, *, read_only: bool) -> Iterator[Any]:
        # in threaded mode this process's write units of work still take turns (as on DuckDB):
        # other processes and hosts are kept apart by Postgres itself (snapshots, row locks,
        # the tenant's chain lock)
        if self.threaded and not read_only:
            self._writer.acquire()
        try:
            with self._pg.connect(read_only=read_only) as con:
                yield con
        finally:
            if self.threaded and not read_only:
                self._writer.release()
        self.opened = self._pg.opened

    def ping(self) -> bool:
        """The file opens and answers (a health probe); an error says why not."""
        with self.connect(read_only=True) as con:
            return bool(con.execute("SELECT 1").fetchone()[0] == 1)

    def query(self, sql: str, params: list | None = None) -> list[dict]:  # type: ignore[type-arg]
        """Rows as dicts, from a read-only connection (waits for writers)."""
        with self.connect(read_only=True) as con:
            cur = con.execute(sql, params or [])
            cols = [d[0] for d in cur.description]
            return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]


def _is_duckdb_error(exc: BaseException) -> bool:
    """Raised by DuckDB itself (not by the caller's code between two statements)."""
    return type(exc).__module__.startswith("duckdb") or type(exc).__module__ == "_duckdb"
