"""Connectors, one per system type: each reads schema names and a bounded sample, nothing more."""

from __future__ import annotations

from pathlib import Path

from warden_analysers.personal_data_scan.config import ScanConfig
from warden_analysers.personal_data_scan.connectors import duckdb_file, jsonl, sqlite, tabular
from warden_analysers.personal_data_scan.sample import SystemSample

from warden.schemas.policy import System

__all__ = ["sample_system"]


def sample_system(
    system: System, path: Path, config: ScanConfig, allowed_roots: tuple[Path, ...]
) -> SystemSample:
    """Dispatch on the system type (already checked by locate.resolve_location)."""
    if system.type == "sqlite":
        return sqlite.sample(system, path, config)
    if system.type == "duckdb":
        return duckdb_file.sample(system, path, config)
    if system.type in ("csv", "parquet"):
        return tabular.sample(system, path, config, allowed_roots)
    return jsonl.sample(system, path, config, allowed_roots)
