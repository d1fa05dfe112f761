"""Short-lived DuckDB connections that wait for the lock instead of failing.

DuckDB lets one process write a file at a time, and a reader cannot open it while a writer
holds it. Every operation opens, works and closes, retrying while another process holds the
lock, so an analyst, an approver and a notebook can share one state directory.

Opening costs ~40 ms of DuckDB start-up whatever the file's size, and a run does ~60 units of
work, so a graph invocation wraps itself in ``Store.hold()``: the file stays open across its
units of work (each then a ~1 ms cursor), and ``Store.release_after()`` closes it when work
that does not touch the store (an analyser, a document load) runs longer than a second, so
other processes get their turn. A hold never outlives the invocation, so no connection is
held across an interrupt (a lingering one, below, at most for its short linger).

A long-lived process that analyses one request after another (the server, a worker, a batch)
may also let the file *linger* (:attr:`Store.linger_s`, :data:`LONG_LIVED_LINGER_S`): when
the last hold or unit of work ends, the file stays open for that long, and a hold or unit of
work that starts meanwhile reuses it instead of paying the open and the close (which
checkpoints DuckDB's WAL) again. Other processes still get their turn: one that finds the file
locked announces itself (it touches ``<file>.waiting`` at each retry), and a lingering process
then closes at once and, at the end of its next hold, closes without lingering and waits
(:data:`YIELD_S`, or until the announcer got in) before opening again; a file open for
:attr:`Store.linger_cap_s` without a break is closed at the end of the hold, lingering or not.
So a process analysing back to back lets a waiting Warden process in within one hold plus its
retry interval. A one-shot command (the CLI) does not linger.

A file that cannot be used (corrupt, truncated, a directory, read-only, a full disk) raises the
coded :class:`~warden.store.faults.StorageFault` that :func:`~warden.store.faults.store_fault`
names, whether it shows on opening or on a later statement or commit; only a real lock error is
waited for and, past the timeout, reported as ``store_busy``. The file itself is never touched.
"""

from __future__ import annotations

import atexit
import heapq
import itertools
import os
import random
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

from warden.errors import WardenError
from warden.store import known
from warden.store.faults import StorageFault, StoreBusy, is_lock_error, store_fault
from warden.store.home import ledger_url

__all__ = [
    "LONG_LIVED_LINGER_S",
    "YIELD_S",
    "Store",
    "StoreBusy",
    "is_write_conflict",
    "retrying_conflicts",
    "wrote",
]

_T = TypeVar("_T")

_is_lock_error = is_lock_error  # the name older code and tests import

_GENERATIONS: dict[str, int] = {}
"""Per database file (resolved path): bumped by every committed write and every open in this
process. While a hold keeps the file open read-write no other process can open it, so an
unchanged generation means the file's content has not changed: what was read from it at that
generation may be reused (:meth:`Store.generation`)."""
_GEN_LOCK = threading.Lock()
_EPOCHS: dict[str, int] = {}
"""Per database file: bumped by every open and close only (not by writes): with the counters of
:data:`_TABLE_GENERATIONS`, the generation of a few tables (:meth:`Store.generation`)."""
_TABLE_GENERATIONS: dict[tuple[str, str], int] = {}
"""Per (database file, table family): bumped after every committed unit of work that marked it
written (:func:`wrote`)."""
_WRITTEN: dict[int, set[str]] = {}
"""The table families a unit of work in progress marked written, by its connection's id."""
_WRITERS: dict[str, threading.RLock] = {}
"""Per database file (resolved path): the lock every write unit of work on it takes, whichever
:class:`Store` of this process runs it (every ``Service`` builds its own: two in-process servers,
a server and a CLI command run in-process, a worker and a test's Service). DuckDB gives them one
database, and a transaction's snapshot starts at its first statement that touches a table, not
at its ``BEGIN``: another Store's commit in between would be in the snapshot but not in what
this process knew at the ``BEGIN`` (:mod:`warden.store.known`), and two appends to one tenant's
audit chain, or two claims of one decision, would race. So this process's writers of a file
take turns, as DuckDB's file lock makes processes do."""


def _file_writer(key: str) -> threading.RLock:
    with _GEN_LOCK:
        return _WRITERS.setdefault(key, threading.RLock())


LONG_LIVED_LINGER_S = 0.5
"""How long a long-lived process's file stays open after its last hold or unit of work ends
(the server, a worker, a batch of analyses; the benchmarks' warm process)."""
LINGER_CAP_S = 5.0
"""A file open this long without a break closes at the end of the hold, lingering or not, so
processes that do not announce themselves (a bare ``duckdb.connect``) still see it free."""
YIELD_S = 1.2
"""How long a lingering process that found another one waiting stays out of the file after
closing it: more than an opener's longest sleep between retries (0.5 s, jittered up to 1 s),
so the waiter's next retry finds it free; cut short when the waiter says it got in."""
_WAITING_FRESH_S = 1.5
"""An announcement (``<file>.waiting`` touched) counts this long: a waiter retries at least
every second, touching it each time."""
_LINGER_POLL_S = 0.05
"""While lingering, how often the announcements are looked at."""

_LINGERING: weakref.WeakSet[Store] = weakref.WeakSet()
"""Stores of this process whose file is open only because it lingers."""
_LINGERING_LOCK = threading.Lock()


def _lingering() -> list[Store]:
    with _LINGERING_LOCK:
        return list(_LINGERING)


def wrote(con: Any, table: str) -> None:
    """Mark the unit of work on `con` as writing `table` (a family of tables, e.g. "policies"):
    once it commits, what was read from that family under :meth:`Store.generation` of it is
    read again. Store modules whose reads are reused across writes of other tables call it."""
    _WRITTEN.setdefault(id(con), set()).add(table)


def _waiting_path(path: Path) -> Path:
    return path.with_name(path.name + ".waiting")


def _announce(path: Path) -> None:
    """Say that this process waits for the file (best effort: a read-only directory says
    nothing, and then only :data:`LINGER_CAP_S` bounds the wait)."""
    with suppress(OSError):
        _waiting_path(path).touch()


def _got_in(path: Path) -> None:
    """The waiter got the file: its announcement no longer holds anyone out."""
    with suppress(OSError):
        os.utime(_waiting_path(path), (0, 0))


def _someone_waits(path: Path) -> bool:
    try:
        touched = _waiting_path(path).stat().st_mtime
    except OSError:
        return False
    return time.time() - touched < _WAITING_FRESH_S


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


CONFLICT_ATTEMPTS = 8
"""How many times :func:`retrying_conflicts` runs work that keeps losing write races."""


def retrying_conflicts(work: Callable[[], _T], *, attempts: int = CONFLICT_ATTEMPTS) -> _T:
    """`work()`, run again (after a short, growing, jittered pause) while it loses a write race
    (:func:`is_write_conflict`: nothing of it committed). Two analyses of the same notice store
    the same document rows at once; on Postgres the later one's snapshot cannot see the
    earlier one's, so it fails rather than waits. Only for work that may run twice: a graph
    node (idempotent by construction: keyed writes, a completed step is not run again) or one
    transaction. The last attempt's conflict propagates."""
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except Exception as exc:
            if attempt == attempts or not is_write_conflict(exc):
                raise
        time.sleep(min(0.01 * 2**attempt, 0.5) * (0.5 + random.random()))
    raise AssertionError("unreachable")


class _Watchdog:
    """One daemon thread runs the callbacks whose time has come (:meth:`Store.release_after`),
    instead of a timer thread started and cancelled for every step of every graph.

    At interpreter exit (:meth:`stop`, from ``atexit``) it finishes the callback it is running
    and ends: a daemon thread still inside DuckDB when the interpreter finalises is unwound by
    force, which DuckDB's C++ turns into an abort (exit 134) after everything else succeeded."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._due: list[list[Any]] = []  # heap of [deadline, n, callback, cancelled]
        self._n = itertools.count()
        self._thread: threading.Thread | None = None
        self._stopped = False

    def schedule(self, seconds: float, callback: Callable[[], None]) -> list[Any]:
        entry = [time.monotonic() + seconds, next(self._n), callback, False]
        with self._cond:
            heapq.heappush(self._due, entry)
            if self._stopped:
                return entry  # exiting: nothing runs later (the exit closes what lingers)
            if self._thread is None or not self._thread.is_alive():  # (or after a fork)
                self._thread = threading.Thread(target=self._run, name="warden-store-watchdog", daemon=True)
                self._thread.start()
            self._cond.notify()
        return entry

    def cancel(self, entry: list[Any]) -> None:
        with self._cond:
            entry[3] = True

    def stop(self, timeout_s: float = 30.0) -> None:
        """End the thread once its running callback (if any) returns; later ones never run."""
        with self._cond:
            self._stopped = True
            thread = self._thread
            self._cond.notify_all()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout_s)

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._stopped:
                    return
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


def _at_exit() -> None:
    """Before the interpreter finalises (``atexit`` runs while daemon threads still run
    normally): stop the watchdog, then close the files that only linger, here in the main
    thread, so no thread is inside DuckDB when the daemon threads are unwound."""
    _WATCHDOG.stop()
    for store in _lingering():
        if not store._mutex.acquire(timeout=5):  # another thread is in it: leave it be
            continue
        try:
            if not store._holds and not store._in_use:
                with suppress(Exception):
                    store._close_anchor()
        finally:
            store._mutex.release()


atexit.register(_at_exit)


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
        self._key = str(self.path.resolve())
        # DuckDB: every Store of this process on the file shares it (:data:`_WRITERS`)
        self._writer = threading.RLock() if self._pg is not None else _file_writer(self._key)
        self.threaded = False
        """Set by a multi-threaded entry point (the server): reads open read-write connections,
        since DuckDB refuses a read-only and a read-write connection to one file in one
        process, and on Postgres this process's write units of work take turns (the audit chain
        and the claim of a decision rely on one writer at a time). On a DuckDB file every write
        unit of work of the process takes its turn, threaded or not (:data:`_WRITERS`)."""
        self.opened = 0
        """How many times this process opened the file (the benchmarks report it)."""
        self.linger_s = 0.0
        """Set by a long-lived entry point (:data:`LONG_LIVED_LINGER_S`): how long the file stays
        open after the last hold or unit of work ends, for the next to reuse. 0: closed at once
        (a one-shot command). Nothing to do on Postgres."""
        self.linger_cap_s = LINGER_CAP_S
        self._opened_at = 0.0  # monotonic time the anchor was opened
        self._linger_until = 0.0  # while lingering: when the file closes
        self._linger_entry: list[Any] | None = None  # the watchdog's check of a linger
        self._yield_until = 0.0  # stay out of the file until then (another process waits)

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
        """Close what this store keeps open between units of work (Postgres: idle connections;
        DuckDB: a lingering file)."""
        if self._pg is not None:
            self._pg.close()
            return
        with self._mutex:
            if self._holds == 0 and self._in_use == 0:
                self._close_anchor()

    def _bump(self, *, reopened: bool = False, tables: Iterable[str] = ()) -> int:
        """A write committed (`tables`: the families it marked), or the file was opened or
        closed (`reopened`: another process may have written in between). Returns the file's
        new generation."""
        with _GEN_LOCK:
            generation = _GENERATIONS[self._key] = _GENERATIONS.get(self._key, 0) + 1
            if reopened:
                _EPOCHS[self._key] = _EPOCHS.get(self._key, 0) + 1
            for table in tables:
                _TABLE_GENERATIONS[self._key, table] = _TABLE_GENERATIONS.get((self._key, table), 0) + 1
            return generation

    def _begin(self, con: Any, held: bool) -> None:
        """Begin `con`'s write transaction; on a held file, tell :mod:`warden.store.known` the
        generation it began at (None if a commit of another thread came between the reads
        around the ``BEGIN``: the snapshot's generation is then not known)."""
        if not held:
            con.execute("BEGIN TRANSACTION")
            return
        with _GEN_LOCK:
            before = _GENERATIONS.get(self._key, 0)
        con.execute("BEGIN TRANSACTION")
        with _GEN_LOCK:
            after = _GENERATIONS.get(self._key, 0)
        known.begin(con, self._key, after if after == before else None)

    def generation(self, tables: Iterable[str] | None = None) -> int | None:
        """A number that changes whenever the file's content may have: any write committed in
        this process (through any Store on the file) and any (re)open, after which another
        process may have written; closing the held file changes it too. None outside a hold or
        while the held file is closed (another process may write at any time): nothing read
        may then be reused.

        With `tables` (families marked by :func:`wrote`), a number that changes only when
        those may have: a write of this process that marked one of them, or a (re)open or
        close. What was read from them may be reused across this process's other writes."""
        with self._mutex:
            if self._holds == 0 or self._anchor is None:
                return None
        with _GEN_LOCK:
            if tables is None:
                return _GENERATIONS.get(self._key, 0)
            # each counter only grows, so their sum changes whenever any of them does
            epoch = _EPOCHS.get(self._key, 0)
            return epoch + sum(_TABLE_GENERATIONS.get((self._key, t), 0) for t in tables)

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Keep the file open for the units of work inside (re-entrant; the last exit closes it,
        or lets it linger: :attr:`linger_s`)."""
        with self._mutex:
            self._holds += 1
            self._linger_until = 0.0
        try:
            yield
        finally:
            with self._mutex:
                self._holds -= 1
                if self._holds == 0:
                    self._idle()

    def release(self) -> None:
        """Close the held file now (before long work that does not touch the store); the next
        unit of work inside the hold opens it again. While another thread's unit of work uses
        a cursor of it, the last such unit closes it instead."""
        if self._pg is not None:
            return
        with self._mutex:
            if self._in_use:
                return
            self._close_anchor()

    def _close_anchor(self) -> None:
        """Close the open file, if any (under the mutex, nothing in use)."""
        self._linger_until = 0.0
        with _LINGERING_LOCK:
            _LINGERING.discard(self)
        anchor, self._anchor = self._anchor, None
        if anchor is not None:
            anchor.close()
            self._bump(reopened=True)

    def _idle(self) -> None:
        """No hold and no unit of work uses the file any more (under the mutex): close it, or
        let it linger for the next. Not when another process waits (it gets its turn now, and
        this one stays out a moment: :data:`YIELD_S`), nor past :attr:`linger_cap_s`."""
        if self._pg is not None or self._in_use or self._holds or self._anchor is None:
            return
        now = time.monotonic()
        if self.linger_s <= 0 or now - self._opened_at >= self.linger_cap_s:
            self._close_anchor()
            return
        if _someone_waits(self.path):
            self._yield_until = now + YIELD_S
            self._close_anchor()
            return
        self._linger_until = now + self.linger_s
        with _LINGERING_LOCK:
            _LINGERING.add(self)
        if self._linger_entry is None:
            self._linger_entry = _WATCHDOG.schedule(min(self.linger_s, _LINGER_POLL_S), self._lingered)

    def _lingered(self) -> None:
        """The watchdog's look at a lingering file: closed when its time is up or another
        process waits; otherwise looked at again shortly. A hold or unit of work that started
        meanwhile ended the linger (it closes or lingers again when it ends)."""
        with self._mutex:
            self._linger_entry = None
            if self._linger_until == 0.0 or self._anchor is None or self._holds or self._in_use:
                return
            now = time.monotonic()
            if _someone_waits(self.path):
                self._yield_until = now + YIELD_S
                self._close_anchor()
            elif now >= self._linger_until:
                self._close_anchor()
            else:
                wait = min(self._linger_until - now, _LINGER_POLL_S)
                self._linger_entry = _WATCHDOG.schedule(wait, self._lingered)

    def _let_go_for(self, key: str) -> None:
        """Another Store of this process wants the file another way (read-only, which DuckDB
        refuses beside a read-write connection): close it now if it only lingers. Never
        waits for this store's mutex (the asking store may hold its own)."""
        if key != self._key or not self._mutex.acquire(blocking=False):
            return
        try:
            if self._linger_until and not self._holds and not self._in_use:
                self._close_anchor()
        finally:
            self._mutex.release()

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
            self._close_anchor()

    def _held_cursor(self) -> Any:
        with self._mutex:
            self._linger_until = 0.0  # in use again: no longer lingering
            if self._anchor is None:
                self._anchor = self._open(read_only=False)
                self._opened_at = time.monotonic()
            self._in_use += 1
            return self._anchor.cursor()

    def _done_with(self, con: Any, held: bool) -> None:
        con.close()
        if held:
            with self._mutex:
                self._in_use -= 1
                if self._in_use == 0 and self._holds == 0:  # the hold ended while this ran
                    self._idle()

    def _open(self, *, read_only: bool) -> Any:
        """Open the file, waiting while another process holds the lock; set up the schema once."""
        import duckdb

        self._stay_out()
        deadline = time.monotonic() + self.lock_timeout_s
        delay = 0.01
        waited = False
        while True:
            existed = self.path.exists()
            try:
                con = duckdb.connect(str(self.path), read_only=read_only)
                break
            except duckdb.Error as exc:
                if is_lock_error(exc):
                    waited = True
                    _announce(self.path)  # a lingering process lets go (another process)
                    for other in _lingering():  # (this process: another store)
                        if other is not self:
                            other._let_go_for(self._key)
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
        if waited:
            _got_in(self.path)
        self.opened += 1
        self._bump(reopened=True)
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

    def _stay_out(self) -> None:
        """After giving the file up to a waiting process (:meth:`_idle`), wait until it got in
        (it clears its announcement) or :data:`YIELD_S` passed, before opening again."""
        while time.monotonic() < self._yield_until and _someone_waits(self.path):
            time.sleep(0.02)
        self._yield_until = 0.0

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
        # a lingering file (:attr:`linger_s`) serves a unit of work outside a hold too
        held = self._holds > 0 or self.threaded or self._linger_until > 0.0
        if not read_only:  # this process's writers of the file, whichever Store, take turns
            self._writer.acquire()
        try:
            con = self._held_cursor() if held else self._open(read_only=read_only and not self.threaded)
            try:
                if read_only:
                    yield con
                else:
                    self._begin(con, held)
                    try:
                        yield con
                    except BaseException:
                        with suppress(Exception):  # the transaction may be gone already (a failed write)
                            con.execute("ROLLBACK")
                        raise
                    con.execute("COMMIT")
                    known.end(con, self._bump(tables=_WRITTEN.pop(id(con), ())), self._key)
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
                _WRITTEN.pop(id(con), None)
                known.end(con, None)  # (after a commit: nothing left to end) rolled back
                self._done_with(con, held)
        finally:
            if not read_only:
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
                try:
                    yield con
                finally:
                    _WRITTEN.pop(id(con), None)  # (no generation on Postgres)
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


def _close_lingering() -> None:
    """At exit: close lingering files (a clean close checkpoints DuckDB's WAL)."""
    for store in _lingering():
        with suppress(Exception):
            store.close()


atexit.register(_close_lingering)


def _is_duckdb_error(exc: BaseException) -> bool:
    """Raised by DuckDB itself (not by the caller's code between two statements)."""
    return type(exc).__module__.startswith("duckdb") or type(exc).__module__ == "_duckdb"
