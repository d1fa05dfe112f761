"""DuckDB database files: opened ``read_only``, every base table sampled with LIMIT."""

from __future__ import annotations

from pathlib import Path

import duckdb
from warden_analysers.personal_data_scan.config import ScanConfig
from warden_analysers.personal_data_scan.connectors._duck import connect, fetch_sample
from warden_analysers.personal_data_scan.locate import scan_error
from warden_analysers.personal_data_scan.sample import SystemSample, add_table, safe_name

from warden.errors import LoadError
from warden.schemas.policy import System

__all__ = ["MAGIC", "sample"]

MAGIC = b"DUCK"  # at byte offset 8 of every DuckDB database file


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _error(exc: duckdb.Error, system: System) -> LoadError:
    text = str(exc).lower()
    if "lock" in text:
        return scan_error(
            "system_locked",
            "the database is locked by another process",
            system,
            "retry when the writer has closed it, or scan a copy",
        )
    if "permission" in text:
        return scan_error(
            "system_unreadable", "the database file cannot be read", system, "grant read permission on it"
        )
    return scan_error(
        "not_a_database",
        "the file is not a readable DuckDB database (wrong format, version or corrupt)",
        system,
        "check the system's type and location; restore the file from a backup if it is corrupt",
    )


def _check_header(path: Path, system: System) -> None:
    if path.is_dir():
        raise scan_error(
            "not_a_database",
            "the location is a folder, not a DuckDB file",
            system,
            "point at the .duckdb file",
        )
    with path.open("rb") as handle:
        head = handle.read(12)
    if not head:
        raise scan_error(
            "empty_system", "the database file is empty", system, "scan a database that holds data"
        )
    if head[8:12] != MAGIC:
        raise scan_error(
            "not_a_database",
            "the file is not a DuckDB database",
            system,
            "check the system's type (sqlite, duckdb, csv, ...) and location",
        )


def sample(system: System, path: Path, config: ScanConfig) -> SystemSample:
    """Every base table's column names and at most ``sample_size`` rows of each."""
    _check_header(path, system)
    out = SystemSample()
    try:
        con = connect(str(path), read_only=True)
    except duckdb.Error as exc:
        raise _error(exc, system) from None
    try:
        tables = con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_type = 'BASE TABLE' AND table_catalog = current_database() ORDER BY 1, 2"
        ).fetchall()
        if not tables:
            raise scan_error(
                "empty_system", "the database holds no tables", system, "scan a database with data"
            )
        out.tables_skipped = max(0, len(tables) - config.max_tables)
        for t_index, (schema, table) in enumerate(tables[: config.max_tables]):
            names, rows = fetch_sample(con, f"{_ident(schema)}.{_ident(table)}", [], config.sample_size)
            shown_table = safe_name(table, f"table{t_index}")
            if schema != "main":
                shown_table = f"{safe_name(schema, 'schema')}.{shown_table}"
            add_table(
                out,
                names,
                rows,
                shown=shown_table,
                separator=".",
                context=shown_table,
                max_columns=config.max_columns,
                max_chars=config.max_value_chars,
            )
    except duckdb.Error as exc:
        raise _error(exc, system) from None
    finally:
        con.close()
    return out
