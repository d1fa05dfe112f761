"""The notification outbox: what to tell whom, written in the transaction of the fact it reports.

A row is one delivery (one webhook POST for an event, or one e-mail to one user), keyed by an
idempotent id (the event's key, the channel and the recipient), so re-running the writer adds
nothing. A deliverer claims due rows with a lease (a second deliverer skips them), sends
outside any transaction, and records the result: ``sent``, or a retry at a later time, or
``failed`` once the attempts are spent. Delivery is at least once: a crash between sending
and recording sends again, with the same id for the receiver to drop.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from warden.store._util import now, rows, scrub, to_json

__all__ = ["claim_due", "enqueue", "mark_failed", "mark_sent", "of_run", "outbox"]


def enqueue(con: Any, deliveries: list[dict[str, Any]], *, at: datetime | None = None) -> int:
    """Add deliveries (dicts with notification_id, tenant, event, run_id, root_run_id, channel,
    recipient, address, policy_sha256, payload); ids already present are left alone.
    Returns how many were new."""
    added = 0
    t = at or now()
    for d in deliveries:
        cur = con.execute(
            """INSERT INTO notifications (notification_id, tenant, event, run_id, root_run_id, channel,
                   recipient, address, policy_sha256, payload_json, status, attempts, next_attempt_at,
                   created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?)
               ON CONFLICT DO NOTHING""",
            [
                d["notification_id"],
                d["tenant"],
                d["event"],
                d.get("run_id"),
                d.get("root_run_id"),
                d["channel"],
                d.get("recipient"),
                d.get("address"),
                d.get("policy_sha256"),
                to_json(d.get("payload") or {}),
                t,
                t,
            ],
        )
        added += int(cur.fetchone()[0])
    return added


def claim_due(con: Any, at: datetime, *, lease_s: float, limit: int) -> list[dict[str, Any]]:
    """Pending deliveries due by `at`, leased until `at + lease_s` (another deliverer skips them
    meanwhile; a deliverer that dies lets the lease run out and the row is tried again)."""
    due = [
        r[0]
        for r in con.execute(
            """SELECT notification_id FROM notifications
               WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at, created_at
               LIMIT ?""",
            [at, limit],
        ).fetchall()
    ]
    if not due:
        return []
    marks = ", ".join("?" for _ in due)
    con.execute(
        f"""UPDATE notifications SET next_attempt_at = ?
            WHERE notification_id IN ({marks}) AND status = 'pending'""",
        [at + timedelta(seconds=lease_s), *due],
    )
    found = rows(con.execute(f"SELECT * FROM notifications WHERE notification_id IN ({marks})", due))
    for row in found:
        row["payload"] = json.loads(row.pop("payload_json"))
    return sorted(found, key=lambda r: (r["created_at"], r["notification_id"]))


def mark_sent(con: Any, notification_id: str, at: datetime) -> None:
    con.execute(
        """UPDATE notifications SET status = 'sent', sent_at = ?, attempts = attempts + 1, last_error = NULL
           WHERE notification_id = ?""",
        [at, notification_id],
    )


def mark_failed(con: Any, notification_id: str, error: str, *, retry_at: datetime | None) -> None:
    """Record a failed attempt (credentials in the error masked): retried at `retry_at`, or for
    good (``failed``) when None."""
    con.execute(
        """UPDATE notifications SET attempts = attempts + 1, last_error = ?,
               status = CASE WHEN ? THEN 'pending' ELSE 'failed' END,
               next_attempt_at = coalesce(?, next_attempt_at)
           WHERE notification_id = ?""",
        [scrub(error)[:2000], retry_at is not None, retry_at, notification_id],
    )


def of_run(con: Any, run_id: str) -> list[dict[str, Any]]:
    """Deliveries about a run, oldest first."""
    found = rows(
        con.execute(
            "SELECT * FROM notifications WHERE run_id = ? ORDER BY created_at, notification_id", [run_id]
        )
    )
    for row in found:
        row["payload"] = json.loads(row.pop("payload_json"))
    return found


def outbox(con: Any, *, tenants: list[str] | None = None, status: str | None = None) -> list[dict[str, Any]]:
    """Deliveries (of these tenants, in this status), oldest first: for operators and tests."""
    sql = "SELECT * FROM notifications WHERE 1=1"
    params: list[Any] = []
    if tenants is not None:
        if not tenants:
            return []
        sql += f" AND tenant IN ({', '.join('?' for _ in tenants)})"
        params += tenants
    if status is not None:
        sql += " AND status = ?"
        params.append(status)
    found = rows(con.execute(sql + " ORDER BY created_at, notification_id", params))
    for row in found:
        row["payload"] = json.loads(row.pop("payload_json"))
    return found
