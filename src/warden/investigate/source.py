"""A Warden database opened read-only: the one door every investigation helper goes through.

DuckDB lets a writer and a reader share a file only one at a time, so a notebook that held a
connection open would block `warden approve`. Every question opens a short read-only
connection (waiting for writers like the CLI does) and closes it again.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from warden.errors import UsageError, WardenError

__all__ = ["DB_NAME", "Source", "latest_root_run", "open_store"]

DB_NAME = "warden.duckdb"
_DUCKDB_MAGIC = b"DUCK"

_SUBTREE = """
    WITH RECURSIVE subtree(run_id) AS (
        SELECT run_id FROM runs WHERE run_id = ?
        UNION ALL
        SELECT r.run_id FROM runs r JOIN subtree s ON r.parent_run_id = s.run_id
    )"""


@dataclass(frozen=True)
class Source:
    """The DuckDB file of a state directory; never written through this object."""

    path: Path

    @contextmanager
    def connect(self) -> Iterator[Any]:
        """A read-only connection for one question (the file stays free for writers between)."""
        from warden.store import Store

        with Store(self.path).connect(read_only=True) as con:
            yield con

    def query(self, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        """Rows as dicts."""
        with self.connect() as con:
            cur = con.execute(sql, params or [])
            cols = [d[0] for d in cur.description]
            return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]

    def run(self, run_id: str) -> dict[str, Any]:
        """The run's row; a clear error (not an empty result) when there is no such run."""
        found = self.query("SELECT * FROM runs WHERE run_id = ?", [run_id])
        if not found:
            raise UsageError(
                f"no run '{run_id}' in {self.path}",
                fix="list runs with `warden runs`, or use latest_root_run()",
                code="unknown_run",
            )
        return found[0]

    def subtree_query(
        self, run_id: str, select: str, params: list[Any] | None = None
    ) -> list[dict[str, Any]]:
        """Run `select` with a `subtree(run_id)` CTE holding `run_id` and every run below it."""
        self.run(run_id)
        return self.query(_SUBTREE + "\n" + select, [run_id, *(params or [])])


def open_store(where: str | Path | None = None) -> Source:
    """The database at `where` (a state directory or the .duckdb file), else under $WARDEN_HOME.

    Checked up front, so a wrong path says so instead of failing on the first query.
    """
    from warden.graph.runtime import HOME_ENV, default_home

    base = Path(where) if where is not None else default_home()
    path = base / DB_NAME if base.is_dir() else base
    if not path.exists():
        hint = "pass the state directory or its warden.duckdb" if where is not None else f"set {HOME_ENV}"
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
        source.query("SELECT value FROM meta WHERE key = 'schema_version'")
    except WardenError:
        raise
    except Exception as exc:  # duckdb.CatalogException: a DuckDB file, but not Warden's
        raise WardenError(
            f"{path} is not a Warden database ({type(exc).__name__})",
            fix=f"point at a Warden state directory (it holds {DB_NAME})",
            code="not_a_store",
        ) from None
    return source


def latest_root_run(source: Source, tenant: str | None = None) -> str:
    """The most recently started root run (of `tenant`, when given): a notebook's default."""
    sql = "SELECT run_id FROM runs WHERE parent_run_id IS NULL"
    params: list[Any] = []
    if tenant is not None:
        sql += " AND tenant = ?"
        params.append(tenant)
    found = source.query(sql + " ORDER BY created_at DESC, run_id DESC LIMIT 1", params)
    if not found:
        raise UsageError(
            f"no runs{f' of tenant {tenant!r}' if tenant else ''} in {source.path}",
            fix="start one with `warden analyse`",
            code="unknown_run",
        )
    return str(found[0]["run_id"])
