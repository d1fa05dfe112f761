"""What connectors hand to detectors: named locations with a bounded list of sampled values.

Values are turned into text here, once, so detectors see the same thing whatever the system
type; bytes are skipped (binary blobs say nothing a text validator can check).
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ColumnSample", "SystemSample", "add_table", "safe_file_name", "safe_name", "to_text"]

_PLAIN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_ \-]{0,63}$")
_DATA_LIKE = re.compile(r"@|\d{5,}|^[0-9a-fA-F-]{16,}$")
_PLAIN_FILE_PART = re.compile(r"^[\w][\w .+\-]{0,127}$")
_DATA_LIKE_FILE = re.compile(r"@|\d{9,}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-")


@dataclass
class ColumnSample:
    """One column (or key) of one table (or file), and the values sampled from it.

    ``location`` is what findings cite ('table.column', 'file.csv:column', 'file.jsonl:a.b');
    ``name`` and ``context`` (the table, file or parent keys) feed the name rules.
    """

    location: str
    name: str
    context: str
    values: list[str] = field(default_factory=list)
    lines: list[int] | None = None
    """For log files: the line each value came from (parallel to ``values``)."""


@dataclass
class SystemSample:
    """Everything a connector read from one system, plus counts for the analyst."""

    columns: list[ColumnSample] = field(default_factory=list)
    tables: int = 0
    tables_skipped: int = 0
    rows_sampled: int = 0
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


def to_text(value: object, max_chars: int) -> str | None:
    """A sampled value as text for the validators, or None when there is nothing to check."""
    if value is None or isinstance(value, bytes | bytearray | memoryview | bool):
        return None
    if isinstance(value, str):
        text = value
    elif isinstance(value, int | float | decimal.Decimal):
        text = str(value)
    elif isinstance(value, dt.datetime | dt.date | dt.time):
        text = value.isoformat()
    else:
        text = str(value)
    text = text.strip()
    return text[:max_chars] if text else None


def safe_name(name: str, fallback: str) -> str:
    """`name` if it looks like a schema name, else `fallback`.

    A header-less CSV or a JSON object keyed by e-mail address puts data where names belong;
    locations are stored, so anything that looks like a value is replaced by a placeholder.
    """
    if _PLAIN_NAME.match(name) and not _DATA_LIKE.search(name):
        return name
    return fallback


def safe_file_name(name: str, index: int) -> str:
    """A relative file name with every part that looks like data replaced (``file3.csv``).

    Dates and sequence numbers in file names are kept (``events-20240501.jsonl``); an e-mail
    address, a long run of digits (a phone or an id) or a UUID is not.
    """
    parts = []
    for part in name.split("/"):
        _, dot, suffix = part.rpartition(".")
        plain = _PLAIN_FILE_PART.match(part) and not _DATA_LIKE_FILE.search(part)
        parts.append(part if plain else f"file{index}{dot}{suffix if dot else ''}")
    return "/".join(parts)


def add_table(
    out: SystemSample,
    names: list[str],
    rows: list[tuple[object, ...]],
    *,
    shown: str,
    separator: str,
    context: str,
    max_columns: int,
    max_chars: int,
) -> None:
    """Record one sampled table or file: a ColumnSample per column, counts in `out`."""
    out.tables += 1
    out.rows_sampled += len(rows)
    for index, name in enumerate(names[:max_columns]):
        column = safe_name(name, f"column{index}")
        values = [text for text in (to_text(row[index], max_chars) for row in rows) if text is not None]
        out.columns.append(
            ColumnSample(location=f"{shown}{separator}{column}", name=column, context=context, values=values)
        )
