"""The audit trail: every transition, with actor, time and payload, in order."""

from __future__ import annotations

import json
from typing import Any

from warden.store._util import now, rows, to_json

__all__ = ["audit", "audit_of_tree", "first_event"]


def audit(
    con: Any,
    *,
    run_id: str,
    root_run_id: str,
    tenant: str,
    actor: str,
    event: str,
    payload: dict[str, Any] | None = None,
    key: str | None = None,
) -> None:
    """Append an event; `key` makes it idempotent (a re-run node does not log it twice)."""
    con.execute(
        """INSERT INTO audit_events (event_key, run_id, root_run_id, tenant, "at", actor, event, payload_json)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING""",
        [key, run_id, root_run_id, tenant, now(), actor, event, to_json(payload or {})],
    )


def audit_of_tree(con: Any, root_run_id: str) -> list[dict[str, Any]]:
    found = rows(con.execute("SELECT * FROM audit_events WHERE root_run_id = ? ORDER BY seq", [root_run_id]))
    for row in found:
        row["payload"] = json.loads(row.pop("payload_json"))
    return found


def first_event(con: Any, run_id: str, event: str) -> dict[str, Any] | None:
    """The run's first `event` (e.g. ``run_requested``) with its payload decoded, or None."""
    found = rows(
        con.execute(
            "SELECT * FROM audit_events WHERE run_id = ? AND event = ? ORDER BY seq LIMIT 1", [run_id, event]
        )
    )
    if not found:
        return None
    row = found[0]
    row["payload"] = json.loads(row.pop("payload_json"))
    return row
