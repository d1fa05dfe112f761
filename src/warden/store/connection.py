"""Short-lived DuckDB connections that wait for the lock instead of failing.

DuckDB lets one process write a file at a time, and a reader cannot open it while a writer
holds it. Every operation opens, works and closes, retrying while another process holds the
lock, so an analyst, an approver and a notebook can share one state directory.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from warden.errors import WardenError

__all__ = ["Store", "StoreBusy"]


class StoreBusy(WardenError):
    """Another process held the database lock for longer than we were willing to wait."""

    code = "store_busy"


def _is_lock_error(exc: Exception) -> bool:
    text = str(exc)
    return "lock" in text.lower() or "different configuration" in text


class Store:
    """The DuckDB file under the state directory."""

    def __init__(self, path: str | Path, *, lock_timeout_s: float = 60.0) -> None:
        self.path = Path(path)
        self.lock_timeout_s = lock_timeout_s
        self._schema_ready = False

    @contextmanager
    def connect(self, *, read_only: bool = False) -> Iterator:  # type: ignore[type-arg]
        """A connection for one unit of work; writes commit together or not at all."""
        import duckdb

        if read_only and not self.path.exists():
            raise WardenError(
                f"no Warden database at {self.path}",
                fix="run `warden analyse` first, or set WARDEN_HOME to the state directory",
                code="no_store",
            )
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.lock_timeout_s
        delay = 0.01
        while True:
            try:
                con = duckdb.connect(str(self.path), read_only=read_only)
                break
            except (duckdb.IOException, duckdb.ConnectionException) as exc:
                if not _is_lock_error(exc) or time.monotonic() > deadline:
                    raise StoreBusy(
                        f"the Warden database {self.path} is busy: {str(exc).splitlines()[0]}",
                        fix="retry in a moment; another warden process is writing",
                    ) from None
                time.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 0.5)
        try:
            if not read_only and not self._schema_ready:
                from warden.store.schema import DDL, SCHEMA_VERSION

                for statement in DDL:
                    con.execute(statement)
                con.execute(
                    "INSERT INTO meta VALUES ('schema_version', ?) ON CONFLICT DO NOTHING",
                    [str(SCHEMA_VERSION)],
                )
                self._schema_ready = True
            if read_only:
                yield con
            else:
                con.execute("BEGIN TRANSACTION")
                try:
                    yield con
                except BaseException:
                    con.execute("ROLLBACK")
                    raise
                con.execute("COMMIT")
        finally:
            con.close()

    def query(self, sql: str, params: list | None = None) -> list[dict]:  # type: ignore[type-arg]
        """Rows as dicts, from a read-only connection (waits for writers)."""
        with self.connect(read_only=True) as con:
            cur = con.execute(sql, params or [])
            cols = [d[0] for d in cur.description]
            return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]
