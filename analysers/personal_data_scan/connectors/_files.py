"""Files of a file-or-folder system: listed in a stable order, each checked against the roots."""

from __future__ import annotations

from pathlib import Path

from warden_analysers.personal_data_scan.locate import scan_error

from warden.schemas.policy import System

__all__ = ["list_files"]


def list_files(
    system: System, path: Path, suffixes: tuple[str, ...], allowed_roots: tuple[Path, ...], limit: int
) -> tuple[list[tuple[str, Path]], int]:
    """(name as findings cite it, real path) of the files to scan, at most `limit`, and how many
    more were left out.

    A folder is walked recursively in sorted order, so two scans of the same folder read the
    same files. A file (or link) inside it that resolves outside the allowed roots refuses the
    whole scan rather than being read.
    """
    if path.is_file():
        return [(path.name, path)], 0
    found = sorted(p for p in path.rglob("*") if p.suffix.lower() in suffixes and not p.name.startswith("."))
    roots = [Path(r).resolve() for r in allowed_roots]
    files: list[tuple[str, Path]] = []
    for candidate in found:
        name = candidate.relative_to(path).as_posix()
        real = candidate.resolve()
        if not any(real == r or real.is_relative_to(r) for r in roots):
            raise scan_error(
                "outside_allowed_roots",
                f"'{name}' in the system's folder links outside the allowed roots",
                system,
                "remove the link, or move its target under an allowed root",
            )
        if real.is_file():
            files.append((name, real))
    if not files:
        raise scan_error(
            "empty_system",
            f"the folder holds no {' or '.join(suffixes)} files",
            system,
            "point the system at the folder that holds its files, or remove it from the inventory",
        )
    return files[:limit], max(0, len(files) - limit)
