"""Small helpers the store modules share."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

__all__ = ["now", "rows", "to_json"]


def now() -> datetime:
    """Naive UTC: DuckDB TIMESTAMP columns hold UTC by convention (no pytz needed to read them)."""
    return datetime.now(UTC).replace(tzinfo=None)


def to_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)


def rows(cursor: Any) -> list[dict[str, Any]]:
    cols = [d[0] for d in cursor.description]
    return [dict(zip(cols, row, strict=True)) for row in cursor.fetchall()]
