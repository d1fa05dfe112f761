"""JSON-lines logs, a file or a folder: at most ``sample_size`` lines per file, each bounded in
length, nested keys flattened to dotted paths (``user.address.city``, ``items[].sku``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from warden_analysers.personal_data_scan.config import ScanConfig
from warden_analysers.personal_data_scan.connectors._files import list_files
from warden_analysers.personal_data_scan.locate import scan_error
from warden_analysers.personal_data_scan.sample import (
    ColumnSample,
    SystemSample,
    safe_file_name,
    safe_name,
    to_text,
)

from warden.schemas.policy import System

__all__ = ["MAX_DEPTH", "SUFFIXES", "flatten", "sample"]

SUFFIXES = (".jsonl", ".ndjson")
MAX_DEPTH = 16


def flatten(value: Any, prefix: str = "", depth: int = 0) -> list[tuple[str, Any]]:
    """(dotted path, scalar) pairs; keys that look like data become ``*``, lists ``[]``."""
    if depth > MAX_DEPTH:
        return []
    if isinstance(value, dict):
        pairs: list[tuple[str, Any]] = []
        for key, inner in value.items():
            segment = safe_name(str(key), "*")
            pairs += flatten(inner, f"{prefix}.{segment}" if prefix else segment, depth + 1)
        return pairs
    if isinstance(value, list):
        pairs = []
        for inner in value:
            pairs += flatten(inner, f"{prefix}[]", depth + 1)
        return pairs
    return [(prefix or "value", value)]


class _File:
    """Values per key of one file, capped at ``max_columns`` keys."""

    def __init__(self, shown: str, config: ScanConfig) -> None:
        self.shown, self.config = shown, config
        self.columns: dict[str, ColumnSample] = {}
        self.keys_dropped = 0

    def add(self, record: Any, line: int) -> None:
        for path, raw in flatten(record):
            column = self.columns.get(path)
            if column is None:
                if len(self.columns) >= self.config.max_columns:
                    self.keys_dropped += 1
                    continue
                head, _, last = path.rpartition(".")
                column = ColumnSample(
                    location=f"{self.shown}:{path}",
                    name=last.replace("[]", ""),
                    context=head.replace("[]", "") or Path(self.shown).stem,
                    lines=[],
                )
                self.columns[path] = column
            text = to_text(raw, self.config.max_value_chars)
            if text is not None and len(column.values) < self.config.sample_size:
                column.values.append(text)
                assert column.lines is not None
                column.lines.append(line)


def sample(system: System, path: Path, config: ScanConfig, allowed_roots: tuple[Path, ...]) -> SystemSample:
    """Keys and values of the first ``sample_size`` lines of each file."""
    files, skipped = list_files(system, path, SUFFIXES, allowed_roots, config.max_tables)
    out = SystemSample(tables_skipped=skipped)
    bad_lines = long_lines = 0
    for f_index, (name, real) in enumerate(files):
        shown = safe_file_name(name, f_index)
        collected = _File(shown, config)
        parsed = failed = 0
        try:
            handle = real.open("rb")
        except OSError:
            raise scan_error(
                "system_unreadable", f"'{shown}' cannot be opened", system, "grant read permission"
            ) from None
        with handle:
            for line_no in range(1, config.sample_size + 1):
                raw = handle.readline(config.max_line_bytes + 1)
                if not raw:
                    break
                if len(raw) > config.max_line_bytes:
                    long_lines += 1
                    out.notes.append(
                        f"'{shown}': line {line_no} is over max_line_bytes; the rest was skipped"
                    )
                    break
                if not raw.strip():
                    continue
                try:
                    record = json.loads(raw.decode("utf-8", "replace"))
                except ValueError:
                    failed += 1
                    continue
                parsed += 1
                collected.add(record, line_no)
        if failed and not parsed:
            raise scan_error(
                "corrupt_file",
                f"'{shown}' holds no JSON lines ({failed} unparsable lines read)",
                system,
                "check the system's type and location: jsonl systems hold one JSON object per line",
            )
        bad_lines += failed
        out.tables += 1
        out.rows_sampled += parsed
        out.columns += list(collected.columns.values())
        if collected.keys_dropped:
            out.notes.append(f"'{shown}': keys beyond max_columns were not inspected")
    out.extra.update(bad_lines=bad_lines, long_lines=long_lines)
    return out
