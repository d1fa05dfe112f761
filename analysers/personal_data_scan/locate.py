"""Where a system lives: its location resolved, checked against the allowed roots, and present.

The guard refuses systems outside the tenant's allowed roots before a run is approved; this
repeats the check at scan time (defence in depth), after symlinks are resolved, so a link
planted later under a root cannot lead the scanner elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path

from warden.errors import LoadError
from warden.schemas.policy import System

__all__ = ["FILE_TYPES", "resolve_location", "scan_error"]

FILE_TYPES = frozenset({"sqlite", "duckdb", "csv", "parquet", "jsonl"})


def scan_error(code: str, message: str, system: System | None, fix: str) -> LoadError:
    """A coded error about a system; messages name the system and never a value read from it."""
    source = f"system '{system.id}'" if system else "system"
    return LoadError(message, source=source, code=code, fix=fix)


def resolve_location(system: System, base_dir: Path, allowed_roots: tuple[Path, ...]) -> Path:
    """The system's path, absolute and real, if it is inside an allowed root and exists."""
    if system.type not in FILE_TYPES:
        raise scan_error(
            "unsupported_system",
            f"system type '{system.type}' is not scanned by personal_data_scan",
            system,
            "scan sqlite, duckdb, csv, parquet or jsonl systems; postgres needs a driver Warden does "
            "not ship, and source folders belong to third_party_scan",
        )
    raw = Path(os.path.expanduser(system.location))
    joined = raw if raw.is_absolute() else Path(base_dir) / raw
    real = joined.resolve()
    roots = [Path(r).resolve() for r in allowed_roots]
    if not any(real == root or real.is_relative_to(root) for root in roots):
        raise scan_error(
            "outside_allowed_roots",
            f"location '{system.location}' resolves outside the tenant's allowed roots",
            system,
            "move the system under an allowed root (links included), or add its folder to allowed_roots",
        )
    if not real.exists():
        raise scan_error(
            "system_missing",
            f"nothing exists at '{system.location}'",
            system,
            "fix the system's location in the policy, or restore the file",
        )
    if not os.access(real, os.R_OK) or (real.is_dir() and not os.access(real, os.X_OK)):
        raise scan_error(
            "system_unreadable",
            f"'{system.location}' cannot be read by this process",
            system,
            "grant read permission to the user Warden runs as",
        )
    return real
