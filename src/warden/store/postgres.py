"""The ledger in PostgreSQL (``WARDEN_LEDGER_URL=postgresql://...``), for workers on several hosts.

The store modules speak one SQL, written for DuckDB and kept portable; :class:`PgConnection`
gives them what a DuckDB connection gives (``execute(sql, params)`` returning something with
``fetchone``/``fetchall``/``description``; a DML statement answers its row count, as DuckDB's
do), translating ``?`` placeholders to psycopg's ``%s`` (a literal ``%`` doubled) and DuckDB's
type names (``DOUBLE``, ``BLOB``) to Postgres's. Every unit of work is one transaction at
REPEATABLE READ, the snapshot isolation DuckDB gives; a lost race is a serialization failure
that :func:`~warden.store.connection.is_write_conflict` recognises, as DuckDB's conflicts.

What DuckDB's single-writer file lock gave for free is made explicit: a tenant's audit chain
appends take a transaction-scoped advisory lock on the tenant and read the chain head as last
committed (:meth:`PgConnection.readers_under_lock`; runbook version numbers likewise), so
appends from any number of processes chain one after another instead of failing on
``UNIQUE (tenant, chain_no)``. The schema is created and
upgraded under another advisory lock, so processes starting together do not race on DDL.
A server that is down or refuses gives the coded ``store_unavailable``, never a traceback.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from decimal import Decimal
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from warden.store.faults import StorageFault, StoreBusy

__all__ = [
    "PgConnection",
    "PostgresLedger",
    "StoreUnavailable",
    "is_pg_conflict",
    "redact_url",
    "translate",
]

_LOCK_CLASS = 17
"""First key of the advisory locks of :meth:`PgConnection.readers_under_lock` (the second:
hashtext of what is locked, e.g. ``audit:TENANT``)."""
_SCHEMA_LOCK = (18, 0)
"""The advisory lock schema creation and upgrades take."""
_IDLE_MAX = 8
"""Idle connections a process keeps per ledger (each unit of work takes one, then gives it back)."""

_TYPES = (
    (re.compile(r"\bDOUBLE\b(?!\s+PRECISION)", re.I), "DOUBLE PRECISION"),
    (re.compile(r"\bBLOB\b", re.I), "BYTEA"),
)
_QUOTED = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"")


class StoreUnavailable(StorageFault):
    """The Postgres ledger did not answer (down, refusing, unknown database, connection lost)."""

    code = "store_unavailable"
    resumable = True


def redact_url(url: str) -> str:
    """The URL without its password, for messages and `warden doctor`."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


@lru_cache(maxsize=1024)
def translate(sql: str) -> str:
    """DuckDB-flavoured SQL as psycopg wants it: ``?`` to ``%s``, ``%`` to ``%%`` (also inside
    literals, which psycopg scans too), DuckDB type names to Postgres's outside quotes."""
    out: list[str] = []
    pos = 0
    for m in _QUOTED.finditer(sql):
        out.append(_plain(sql[pos : m.start()]))
        out.append(m.group(0).replace("%", "%%"))
        pos = m.end()
    out.append(_plain(sql[pos:]))
    return "".join(out)


def _plain(text: str) -> str:
    text = text.replace("%", "%%").replace("?", "%s")
    for pattern, replacement in _TYPES:
        text = pattern.sub(replacement, text)
    return text


def is_pg_conflict(exc: BaseException) -> bool:
    """A psycopg error meaning another transaction won a race (nothing of this one committed)."""
    import psycopg.errors as e

    if isinstance(exc, e.SerializationFailure | e.DeadlockDetected):
        return True
    if isinstance(exc, e.UniqueViolation):
        constraint = getattr(exc.diag, "constraint_name", None) or ""
        return constraint in {"audit_chain", "audit_events_event_key_key"} or "chain_no" in str(exc)
    return False


class _Result:
    """What a DuckDB ``execute`` returns, for a statement run by psycopg."""

    def __init__(self, cursor: Any) -> None:
        if cursor.description is None:  # INSERT/UPDATE/DELETE without RETURNING: DuckDB's "Count"
            self.description: list[tuple[Any, ...]] = [("Count", None, None, None, None, None, None)]
            self._rows: list[tuple[Any, ...]] = [(max(cursor.rowcount, 0),)]
        else:
            self.description = [tuple(d) for d in cursor.description]
            self._rows = cursor.fetchall()
        self._next = 0

    def fetchone(self) -> tuple[Any, ...] | None:
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    def fetchall(self) -> list[tuple[Any, ...]]:
        found, self._next = self._rows[self._next :], len(self._rows)
        return found


class PgConnection:
    """A psycopg connection that takes the calls the store modules make on DuckDB connections."""

    dialect = "postgres"

    def __init__(self, raw: Any, ledger: PostgresLedger) -> None:
        self.raw = raw
        self._ledger = ledger
        self._locked: set[tuple[str, bool]] = set()
        self._side: PgConnection | None = None

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> _Result:
        cur = self.raw.cursor()
        try:
            cur.execute(translate(sql), list(params or []))
            return _Result(cur)
        finally:
            cur.close()

    def cursor(self) -> PgConnection:
        return self

    def readers_under_lock(self, key: str, *, shared: bool = False) -> list[PgConnection]:
        """Take the advisory lock `key` until this transaction ends, and return the connections
        whose reads together give the latest state of what the lock guards (a tenant's chain
        head, a runbook's version numbers): this transaction (its own writes) and a side
        connection outside it (what others committed after this snapshot was taken; every
        writer of it takes the lock, so what is read stays the latest until commit). `shared`:
        the lock in shared mode, for readers that only need no writer of it in between (many at
        once; a writer takes it exclusively)."""
        if (key, shared) not in self._locked:
            lock = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
            self.execute(f"SELECT {lock}(?, hashtext(?))", [_LOCK_CLASS, key])
            self._locked.add((key, shared))
        if self._side is None:
            # a pooled connection the server ended since fails its first statement: replaced
            # as the unit of work's own is (PostgresLedger._taken), not a `store_unavailable`
            self._side = PgConnection(self._ledger._taken(_answers), self._ledger)
        return [self, self._side]

    def close(self) -> None:
        """Give the side connection back (the main one is the ledger's to give back)."""
        side, self._side = self._side, None
        self._locked.clear()
        if side is not None:
            self._ledger.give(side.raw)


def _answers(raw: Any) -> None:
    """Fails (OperationalError) on a connection the server ended: a side connection's check."""
    raw.execute("SELECT 1")


def _numeric_loader() -> Any:
    """Postgres answers ``sum(bigint)`` and ``extract(epoch ...)`` as NUMERIC; DuckDB answers
    HUGEINT/DOUBLE, which Python reads as int/float. Decimal would leak into JSON and sums."""
    from psycopg.types.numeric import NumericLoader

    class IntOrFloat(NumericLoader):
        def load(self, data: Any) -> Any:
            value = super().load(data)
            if isinstance(value, Decimal):
                return int(value) if value == value.to_integral_value() else float(value)
            return value

    return IntOrFloat


class PostgresLedger:
    """Connections to one Postgres database: a few kept idle per process, one per unit of work."""

    def __init__(self, url: str, *, lock_timeout_s: float = 60.0) -> None:
        from warden.errors import WardenError

        if urlsplit(url).scheme not in {"postgresql", "postgres"}:
            raise WardenError(
                f"WARDEN_LEDGER_URL is not a PostgreSQL URL: {redact_url(url)}",
                fix="set it to postgresql://USER@HOST:5432/DATABASE, or unset it to use the state "
                "directory's DuckDB file",
                code="ledger_url_invalid",
            )
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise WardenError(
                "WARDEN_LEDGER_URL names a Postgres ledger, but its driver (psycopg) is not installed",
                fix="pip install 'warden[postgres]' (or unset WARDEN_LEDGER_URL)",
                code="ledger_driver_missing",
            ) from None
        self.url = url
        self.lock_timeout_s = lock_timeout_s
        self._idle: list[Any] = []
        self._mutex = threading.Lock()
        self._pid = os.getpid()
        self._schema_ready = False
        self._timeouts: dict[int, int] = {}
        self.opened = 0

    def unavailable(self, exc: BaseException) -> StoreUnavailable:
        detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return StoreUnavailable(
            f"the Postgres ledger {redact_url(self.url)} does not answer: {detail}",
            path=redact_url(self.url),
            fix="start the Postgres server (or fix WARDEN_LEDGER_URL: host, port, database, user) "
            "and run the command again; unset WARDEN_LEDGER_URL to use the state directory's DuckDB "
            "file instead. A run stopped by this resumes with `warden resume RUN`",
        )

    def _open(self) -> Any:
        import psycopg

        try:
            raw = psycopg.connect(self.url, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            raise self.unavailable(exc) from None
        raw.adapters.register_loader("numeric", _numeric_loader())
        self._timeouts.pop(id(raw), None)  # a new connection (its id may be a closed one's)
        self.opened += 1
        return raw

    def _lock_timeout(self, raw: Any) -> None:
        """Waits for a row or the chain lock end after the store's lock timeout (`store_busy`),
        as waits for the DuckDB file do; set again when the store's timeout changed."""
        ms = max(int(self.lock_timeout_s * 1000), 1)
        if self._timeouts.get(id(raw)) != ms:
            raw.execute(f"SET lock_timeout = '{ms}ms'")
            self._timeouts[id(raw)] = ms

    def take(self) -> Any:
        with self._mutex:
            if self._pid != os.getpid():  # a forked child must not share its parent's sockets
                self._idle, self._pid = [], os.getpid()
            raw = self._idle.pop() if self._idle else None
        return raw if raw is not None else self._open()

    def give(self, raw: Any) -> None:
        from psycopg.pq import TransactionStatus

        healthy = not raw.closed and raw.info.transaction_status == TransactionStatus.IDLE
        with self._mutex:
            if healthy and len(self._idle) < _IDLE_MAX and self._pid == os.getpid():
                self._idle.append(raw)
                return
        with suppress(Exception):
            raw.close()

    def close(self) -> None:
        """Close the idle connections (a test dropping its database, a process ending)."""
        with self._mutex:
            idle, self._idle = self._idle, []
        for raw in idle:
            with suppress(Exception):
                raw.close()

    @contextmanager
    def connect(self, *, read_only: bool) -> Iterator[PgConnection]:
        """One unit of work: a REPEATABLE READ transaction (read-only ones too: one snapshot)."""
        import psycopg

        raw, con = self._begin(read_only)
        try:
            try:
                yield con
            except BaseException:
                with suppress(Exception):
                    raw.execute("ROLLBACK")
                raise
            try:
                raw.execute("COMMIT")
            except psycopg.Error as exc:
                with suppress(Exception):
                    raw.execute("ROLLBACK")
                raise self._fault(exc) or exc from exc
        except psycopg.Error as exc:  # a statement of the unit of work failed
            fault = self._fault(exc)
            if fault is None:
                raise
            raise fault from exc
        finally:
            con.close()
            self.give(raw)

    def _begin(self, read_only: bool) -> tuple[Any, PgConnection]:
        """A connection in a new transaction (see :meth:`_taken`)."""

        def begin(raw: Any) -> None:
            self._lock_timeout(raw)
            self._ensure_schema(PgConnection(raw, self))
            raw.execute("BEGIN ISOLATION LEVEL REPEATABLE READ" + (" READ ONLY" if read_only else ""))

        raw = self._taken(begin)
        return raw, PgConnection(raw, self)

    def _taken(self, ready: Callable[[Any], None]) -> Any:
        """A connection from the pool that `ready` ran on. An idle connection the server has
        closed since (a restart, an administrator ending sessions, idle_session_timeout) fails
        `ready` and is dropped for a fresh one, with the other idle ones (they likely went with
        it); a fresh connection failing means the server: `store_unavailable`."""
        import psycopg

        for attempt in (1, 2):
            fresh = self.opened
            raw = self.take()
            try:
                ready(raw)
                return raw
            except psycopg.OperationalError as exc:
                with suppress(Exception):
                    raw.close()
                if attempt == 2 or self.opened != fresh:  # a new connection failed: the server
                    raise self._fault(exc) or exc from exc
                self.close()
            except psycopg.Error as exc:
                self.give(raw)
                raise self._fault(exc) or exc from exc
            except BaseException:
                self.give(raw)
                raise
        raise AssertionError("unreachable")

    def _fault(self, exc: BaseException) -> StorageFault | None:
        """The coded error for a psycopg error about the server (not about the SQL), or None."""
        import psycopg.errors as e

        if isinstance(exc, e.LockNotAvailable | e.QueryCanceled):
            return StoreBusy(
                f"the Postgres ledger {redact_url(self.url)} is busy: {str(exc).splitlines()[0]}",
                path=redact_url(self.url),
                fix="retry in a moment; another warden process holds the rows (or the tenant's audit "
                "chain) for longer than the lock timeout",
            )
        if isinstance(exc, e.DiskFull | e.InsufficientResources):
            return StoreUnavailable(
                f"the Postgres ledger {redact_url(self.url)} is out of space: {str(exc).splitlines()[0]}",
                path=redact_url(self.url),
                fix="free space on the Postgres server, then run the command again (nothing stored "
                "was lost; a run stopped by this resumes with `warden resume RUN`)",
            )
        if isinstance(exc, e.OperationalError) and not isinstance(
            exc, e.SerializationFailure | e.DeadlockDetected
        ):
            return self.unavailable(exc)
        return None

    def _ensure_schema(self, con: PgConnection) -> None:
        """Create or upgrade the schema once per process, under an advisory lock; cheap when the
        database says it is at this version already."""
        if self._schema_ready:
            return
        from warden.store.schema import DDL, SCHEMA_VERSION, upgrade

        raw = con.raw
        raw.execute("BEGIN")
        try:
            con.execute("SELECT pg_advisory_xact_lock(?, ?)", list(_SCHEMA_LOCK))
            found = con.execute(
                "SELECT value FROM meta WHERE key = 'schema_version'"
                if con.execute("SELECT to_regclass('meta') IS NOT NULL").fetchone()[0]  # type: ignore[index]
                else "SELECT NULL WHERE false"
            ).fetchone()
            version = int(found[0]) if found and str(found[0]).isdigit() else 0
            if version < SCHEMA_VERSION:
                for statement in DDL:
                    con.execute(statement)
                upgrade(con)
                con.execute(
                    """INSERT INTO meta VALUES ('schema_version', ?)
                       ON CONFLICT (key) DO UPDATE SET value = excluded.value""",
                    [str(SCHEMA_VERSION)],
                )
            raw.execute("COMMIT")
        except BaseException:
            with suppress(Exception):
                raw.execute("ROLLBACK")
            raise
        self._schema_ready = True
