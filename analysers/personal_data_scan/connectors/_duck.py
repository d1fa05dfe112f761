"""DuckDB connections for scanning: no extension is installed or loaded behind our back.

A file that merely looks like another format (a SQLite file handed to DuckDB, say) would
otherwise make DuckDB try to fetch an extension from the network.
"""

from __future__ import annotations

import duckdb

__all__ = ["SCAN_SETTINGS", "connect", "fetch_sample"]

SCAN_SETTINGS: dict[str, str | bool | int] = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "threads": 2,
    "memory_limit": "512MB",
}


def connect(database: str = ":memory:", *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A connection with the scan settings applied."""
    return duckdb.connect(database, read_only=read_only, config=dict(SCAN_SETTINGS))


def fetch_sample(
    con: duckdb.DuckDBPyConnection, relation_sql: str, params: list[object], limit: int
) -> tuple[list[str], list[tuple[object, ...]]]:
    """Column names and at most `limit` rows of `relation_sql` (a FROM clause target)."""
    cursor = con.execute(f"SELECT * FROM {relation_sql} LIMIT {int(limit)}", params)
    names = [d[0] for d in cursor.description or []]
    return names, cursor.fetchall()
