"""Small helpers the store modules share."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from warden.credentials import dumps_scrubbed, scrub

__all__ = ["insert_rows", "now", "readers_under_lock", "rows", "scrub", "to_json"]


def now() -> datetime:
    """Naive UTC: DuckDB TIMESTAMP columns hold UTC by convention (no pytz needed to read them)."""
    return datetime.now(UTC).replace(tzinfo=None)


def to_json(value: Any) -> str:
    """`value` as JSON, credentials masked (:func:`warden.credentials.scrub_data`): audit payloads,
    step outputs and model calls quote error messages and URLs, and no secret is stored."""
    return dumps_scrubbed(value, sort_keys=True, ensure_ascii=False)


def rows(cursor: Any) -> list[dict[str, Any]]:
    cols = [d[0] for d in cursor.description]
    return [dict(zip(cols, row, strict=True)) for row in cursor.fetchall()]


def insert_rows(
    con: Any, table: str, columns: dict[str, str], values: list[list[Any]], conflict: str = ""
) -> None:
    """Insert many rows in one statement, one list parameter per column.

    DuckDB's ``executemany`` runs one statement per row (~7 ms each: minutes for a 300-page PDF's
    passages or a large findings batch); unnesting column lists is ~200x faster. `columns` maps
    each column to its SQL type; `conflict` is an ``ON CONFLICT ...`` clause, if any.
    """
    if not values:
        return
    names = list(columns)
    lists = [list(col) for col in zip(*values, strict=True)]
    selects = ", ".join(f"unnest(?::{kind}[])" for kind in columns.values())
    con.execute(
        f"INSERT INTO {table} ({', '.join(names)}) SELECT {selects} {conflict}",
        lists,
    )


def readers_under_lock(con: Any, key: str, *, shared: bool = False) -> list[Any]:
    """The connections whose reads give the latest committed state of what `key` names, for a
    read-then-write that must not race (a chain head, the next version number). DuckDB: `con`
    (one writer process at a time). Postgres: `key` is locked until the transaction ends
    (`shared`: in shared mode, against its exclusive writers only) and a side connection sees
    what others committed after this snapshot (see ``store.postgres``)."""
    lock = getattr(con, "readers_under_lock", None)
    return [con] if lock is None else list(lock(key, shared=shared))
