"""CSV and Parquet, a file or a folder of them, read through DuckDB's read_csv / read_parquet.

DuckDB streams both formats, so ``LIMIT`` stops reading early: a Parquet scan touches the
first row groups, a CSV scan the first buffers (plus the sniffer's own bounded sample).
"""

from __future__ import annotations

from pathlib import Path

import duckdb
from warden_analysers.personal_data_scan.config import ScanConfig
from warden_analysers.personal_data_scan.connectors._duck import connect, fetch_sample
from warden_analysers.personal_data_scan.connectors._files import list_files
from warden_analysers.personal_data_scan.locate import scan_error
from warden_analysers.personal_data_scan.sample import SystemSample, add_table, safe_file_name

from warden.schemas.policy import System

__all__ = ["SUFFIXES", "sample"]

SUFFIXES: dict[str, tuple[str, ...]] = {"csv": (".csv", ".tsv"), "parquet": (".parquet",)}


def _relation(kind: str, config: ScanConfig) -> str:
    if kind == "csv":
        # Every column as text: phone numbers keep their leading '+' and '0', ids their zeros.
        sniff = min(config.sample_size, 20480)
        return f"read_csv(?, all_varchar = true, header = true, sample_size = {sniff})"
    return "read_parquet(?)"


def sample(system: System, path: Path, config: ScanConfig, allowed_roots: tuple[Path, ...]) -> SystemSample:
    """Column names and at most ``sample_size`` rows of each file."""
    kind = system.type
    files, skipped = list_files(system, path, SUFFIXES[kind], allowed_roots, config.max_tables)
    out = SystemSample(tables_skipped=skipped)
    con = connect()
    try:
        for f_index, (name, real) in enumerate(files):
            shown_file = safe_file_name(name, f_index)
            try:
                names, rows = fetch_sample(con, _relation(kind, config), [str(real)], config.sample_size)
            except duckdb.Error:
                raise scan_error(
                    "corrupt_file",
                    f"'{shown_file}' is not a readable {kind} file (wrong format, encoding or corrupt)",
                    system,
                    f"check that the file is {kind} (UTF-8 for CSV) or remove it from the system's folder",
                ) from None
            add_table(
                out,
                names,
                rows,
                shown=shown_file,
                separator=":",
                context=Path(shown_file).stem,
                max_columns=config.max_columns,
                max_chars=config.max_value_chars,
            )
    finally:
        con.close()
    return out
