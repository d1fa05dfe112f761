"""A Warden database opened read-only: the one door every investigation helper goes through.

DuckDB lets a writer and a reader share a file only one at a time, so a notebook that held a
connection open would block `warden approve`. Every question opens a short read-only
connection (waiting for writers like the CLI does) and closes it again; the questions a helper
asks inside one ``with source.connect():`` (a whole report, say) share that one connection.
The SQL itself lives in :mod:`warden.store.reads`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from warden.errors import UsageError, WardenError
from warden.store import reads

__all__ = ["DB_NAME", "Source", "latest_root_run", "open_store"]

DB_NAME = "warden.duckdb"
_DUCKDB_MAGIC = b"DUCK"


@dataclass(frozen=True)
class Source:
    """The DuckDB file of a state directory; never written through this object."""

    path: Path
    store: Any = field(default=None, compare=False, repr=False)
    """The state directory's open :class:`~warden.store.Store` to read through, if the caller has
    one (a server in threaded mode cannot mix a second, read-only DuckDB instance of the file with
    its read-write one); None opens short read-only connections of the file."""
    _local: threading.local = field(default_factory=threading.local, init=False, repr=False, compare=False)
    """This thread's open connection while inside connect(), so nested questions reuse it."""

    @contextmanager
    def connect(self) -> Iterator[Any]:
        """A read-only connection, closed on leaving; inside another connect() (of this thread),
        that same connection: a helper asks all its questions over one."""
        held = getattr(self._local, "con", None)
        if held is not None:
            yield held
            return
        from warden.store import Store

        # no store given: this DuckDB file (a state directory's, or a Postgres ledger's export),
        # whatever WARDEN_LEDGER_URL says
        with (self.store or Store(self.path, url="")).connect(read_only=True) as con:
            self._local.con = con
            try:
                yield con
            finally:
                self._local.con = None

    def run(self, run_id: str) -> dict[str, Any]:
        """The run's row; a clear error (not an empty result) when there is no such run."""
        from warden.store.runs import get_run

        with self.connect() as con:
            found = get_run(con, run_id)
        if found is None:
            raise UsageError(
                f"no run '{run_id}' in {self.path}",
                fix="list runs with `warden runs`, or use latest_root_run()",
                code="unknown_run",
            )
        return found


def open_store(where: str | Path | None = None) -> Source:
    """The database at `where` (a state directory or the .duckdb file), else under $WARDEN_HOME.

    Checked up front, so a wrong path says so instead of failing on the first query.
    """
    from warden.store.home import HOME_ENV, default_home

    base = Path(where) if where is not None else default_home()
    path = base / DB_NAME if base.is_dir() else base
    if not path.exists():
        hint = "pass the state directory or its warden.duckdb" if where is not None else f"set {HOME_ENV}"
        from warden.store.home import ledger_url

        if ledger_url() is not None:
            hint += "; the ledger is in Postgres (WARDEN_LEDGER_URL): `warden ledger export --to FILE.duckdb`"
            hint += " snapshots it into a DuckDB file to open here"
        raise WardenError(
            f"no Warden database at {path}",
            fix=f"run `warden analyse` first, or {hint}",
            code="no_store",
        )
    try:
        with path.open("rb") as handle:
            header = handle.read(12)
    except OSError as exc:  # a directory where the file should be, no read permission
        from warden.store.faults import StoreNotAFile, os_fault

        if path.is_dir():
            raise StoreNotAFile(
                f"the Warden database {path} is a directory, not a file",
                path=path,
                fix=f"move {path} aside, or point at the right state directory",
            ) from None
        raise (os_fault(exc, path) or exc) from None
    if header[8:12] != _DUCKDB_MAGIC:
        raise WardenError(
            f"{path} is not a DuckDB database",
            fix=f"point at a Warden state directory (it holds {DB_NAME})",
            code="not_a_store",
        )
    source = Source(path)
    try:
        with source.connect() as con:
            reads.schema_version(con)
    except WardenError:
        raise
    except Exception as exc:  # duckdb.CatalogException: a DuckDB file, but not Warden's
        raise WardenError(
            f"{path} is not a Warden database ({type(exc).__name__})",
            fix=f"point at a Warden state directory (it holds {DB_NAME})",
            code="not_a_store",
        ) from None
    return source


def latest_root_run(source: Source, tenant: str | None = None, *, status: str | None = "completed") -> str:
    """The most recently started root run (of `tenant`, when given) with `status`: a notebook's
    default is the latest *completed* analysis (a failed or waiting one has little to show);
    ``status=None`` takes the latest whatever its status."""
    with source.connect() as con:
        found = reads.latest_root_run(con, tenant, status)
    if found is None:
        what = f" {status}" if status else ""
        raise UsageError(
            f"no{what} runs{f' of tenant {tenant!r}' if tenant else ''} in {source.path}",
            fix="start one with `warden analyse`",
            code="unknown_run",
        )
    return found
