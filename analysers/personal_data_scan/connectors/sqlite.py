"""SQLite databases: opened read-only through a ``file:...?mode=ro`` URI, sampled with LIMIT."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import quote

from warden_analysers.personal_data_scan.config import ScanConfig
from warden_analysers.personal_data_scan.locate import scan_error
from warden_analysers.personal_data_scan.sample import SystemSample, add_table, safe_name

from warden.errors import LoadError
from warden.schemas.policy import System

__all__ = ["HEADER", "sample"]

HEADER = b"SQLite format 3\x00"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _error(exc: sqlite3.Error, system: System) -> LoadError:
    """Map SQLite's errors to coded ones; SQLite's own text never carries row values, but the
    message is ours anyway so nothing read from the file can leak through it."""
    text = str(exc).lower()
    if "locked" in text or "busy" in text:
        return scan_error(
            "system_locked",
            "the database is locked by another process",
            system,
            "retry when the writer has finished, or scan a copy (raise lock_timeout_s to wait longer)",
        )
    if "unable to open" in text or "readonly" in text or "permission" in text:
        return scan_error(
            "system_unreadable",
            "the database file cannot be opened for reading",
            system,
            "grant read permission on the file and its folder",
        )
    return scan_error(
        "not_a_database",
        "the file is not a readable SQLite database (wrong format or corrupt)",
        system,
        "check the system's type and location; restore the file from a backup if it is corrupt",
    )


def _check_header(path: Path, system: System) -> None:
    if path.is_dir():
        raise scan_error(
            "not_a_database",
            "the location is a folder, not a SQLite file",
            system,
            "point at the .sqlite file",
        )
    with path.open("rb") as handle:
        head = handle.read(len(HEADER))
    if not head:
        raise scan_error(
            "empty_system", "the database file is empty", system, "scan a database that holds data"
        )
    if head != HEADER:
        raise scan_error(
            "not_a_database",
            "the file is not a SQLite database",
            system,
            "check the system's type (sqlite, duckdb, csv, ...) and location",
        )


def sample(system: System, path: Path, config: ScanConfig) -> SystemSample:
    """Column names of every table and at most ``sample_size`` rows of each."""
    _check_header(path, system)
    uri = f"file:{quote(str(path))}?mode=ro"
    out = SystemSample()
    try:
        con = sqlite3.connect(uri, uri=True, timeout=config.lock_timeout_s)
    except sqlite3.Error as exc:
        raise _error(exc, system) from None
    try:
        con.text_factory = lambda raw: raw.decode("utf-8", "replace")
        try:
            tables = [
                row[0]
                for row in con.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' "
                    "ESCAPE '\\' ORDER BY name"
                )
            ]
        except sqlite3.Error as exc:
            raise _error(exc, system) from None
        if not tables:
            raise scan_error(
                "empty_system", "the database holds no tables", system, "scan a database with data"
            )
        out.tables_skipped = max(0, len(tables) - config.max_tables)
        for t_index, table in enumerate(tables[: config.max_tables]):
            _sample_table(con, system, table, f"table{t_index}", config, out)
    finally:
        con.close()
    return out


def _sample_table(
    con: sqlite3.Connection, system: System, table: str, fallback: str, config: ScanConfig, out: SystemSample
) -> None:
    try:
        names = [row[1] for row in con.execute(f"PRAGMA table_info({_ident(table)})")]
    except sqlite3.Error as exc:
        raise _error(exc, system) from None
    names = names[: config.max_columns]
    if not names:
        return
    select = ", ".join(_ident(n) for n in names)
    try:
        rows = con.execute(f"SELECT {select} FROM {_ident(table)} LIMIT ?", (config.sample_size,)).fetchall()
    except sqlite3.OperationalError as exc:
        if "no such module" in str(exc).lower():  # a virtual table whose extension is not loaded
            out.notes.append(f"table '{safe_name(table, fallback)}' skipped: needs a SQLite extension")
            return
        raise _error(exc, system) from None
    except sqlite3.Error as exc:
        raise _error(exc, system) from None
    add_table(
        out,
        names,
        rows,
        shown=safe_name(table, fallback),
        separator=".",
        context=safe_name(table, fallback),
        max_columns=config.max_columns,
        max_chars=config.max_value_chars,
    )
