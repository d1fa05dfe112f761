"""The approval queue: one row per approval requested, open until it is decided or its run stops.

The row is written where the engine marks a run waiting (``settle``, idempotent: a second
settle of the same wait changes nothing but reopens a row closed by a crash path), and closed
in the transaction that records the decision (``approval._apply``) or gives the run a terminal
status (``runs.set_status``: cancel, kill switch, caps, failures). Inboxes, SLA escalation and
queue health read this table only, never checkpoints. The due time is data (``due_at`` =
``requested_at`` + the bound policy's SLA), so escalation survives a restart.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from warden.store import documents
from warden.store._util import insert_rows, now, rows

__all__ = [
    "AGE_BUCKETS",
    "DECISIONS",
    "INBOX_COLUMNS",
    "InboxFilter",
    "QueueRow",
    "close",
    "close_many",
    "first_document",
    "get",
    "health",
    "inbox",
    "insert_many",
    "mark_escalated",
    "open_pending",
    "overdue",
    "pending_policies",
]

DECISIONS = ("approve", "edit", "reject")
"""Outcomes a human (or an auto-approval rule) gives; any other outcome is the run's terminal status."""

_COLUMNS: dict[str, str] = {
    "run_id": "VARCHAR",
    "root_run_id": "VARCHAR",
    "tenant": "VARCHAR",
    "required_role": "VARCHAR",
    "requester": "VARCHAR",
    "requested_at": "TIMESTAMP",
    "runbook": "VARCHAR",
    "runbook_sha256": "VARCHAR",
    "policy_sha256": "VARCHAR",
    "cost_estimate_usd": "DOUBLE",
    "guard_ok": "BOOLEAN",
    "guard_warnings": "INTEGER",
    "guard_errors": "INTEGER",
    "depth": "INTEGER",
    "document": "VARCHAR",
    "sla_s": "BIGINT",
    "due_at": "TIMESTAMP",
    "escalate_to": "VARCHAR",
}


@dataclass(frozen=True)
class QueueRow:
    """What an approver's inbox shows of one pending approval (written when the run waits)."""

    run_id: str
    root_run_id: str
    tenant: str
    required_role: str
    requester: str
    requested_at: datetime
    runbook: str
    runbook_sha256: str
    policy_sha256: str | None
    cost_estimate_usd: float = 0.0
    guard_ok: bool = True
    guard_warnings: int = 0
    guard_errors: int = 0
    depth: int = 0
    document: str | None = None
    sla_s: int | None = None
    due_at: datetime | None = None
    escalate_to: str | None = None


@dataclass(frozen=True)
class InboxFilter:
    """Pending approvals of one tenant under one bound policy that a principal may decide:
    those needing one of `roles`, not requested by `exclude_requester` (self-approval off)."""

    tenant: str
    policy_sha256: str | None
    roles: tuple[str, ...]
    exclude_requester: str | None


def open_pending(con: Any, row: QueueRow) -> None:
    """Record that the run waits; a second call for the same wait keeps the first requested_at
    (the SLA runs from the first request) and reopens a row a crash path had closed."""
    values = asdict(row)
    names = ", ".join(values)
    marks = ", ".join("?" for _ in values)
    con.execute(
        f"""INSERT INTO approval_queue ({names}) VALUES ({marks})
            ON CONFLICT (run_id) DO UPDATE SET decided_at = NULL, outcome = NULL, decided_by = NULL""",
        list(values.values()),
    )


def insert_many(con: Any, queue_rows: list[QueueRow]) -> None:
    """Bulk insert (benchmarks and fixtures): one statement for many rows."""
    insert_rows(
        con,
        "approval_queue",
        _COLUMNS,
        [list(asdict(r).values()) for r in queue_rows],
        conflict="ON CONFLICT DO NOTHING",
    )


def close(con: Any, run_id: str, outcome: str, *, by: str | None = None, at: datetime | None = None) -> bool:
    """Close the run's open row with `outcome` (a decision or a terminal status); False when
    there was none open (an auto-approval, or already closed)."""
    cur = con.execute(
        """UPDATE approval_queue SET decided_at = ?, outcome = ?, decided_by = ?
           WHERE run_id = ? AND decided_at IS NULL""",
        [at or now(), outcome, by, run_id],
    )
    return bool(cur.fetchone()[0])


def close_many(
    con: Any, run_ids: list[str], outcome: str, *, by: str | None = None, at: datetime | None = None
) -> None:
    """Close many open rows at once (benchmarks and fixtures)."""
    con.execute(
        """UPDATE approval_queue SET decided_at = ?, outcome = ?, decided_by = ?
           WHERE decided_at IS NULL AND run_id IN (SELECT unnest(?::VARCHAR[]))""",
        [at or now(), outcome, by, run_ids],
    )


def get(con: Any, run_id: str) -> dict[str, Any] | None:
    found = rows(con.execute("SELECT * FROM approval_queue WHERE run_id = ?", [run_id]))
    return found[0] if found else None


def first_document(con: Any, root_run_id: str) -> str | None:
    """The name of the first document the tree reads, '+N' for a set (what the inbox calls the run)."""
    found = con.execute(f"SELECT {documents.SET_NAME.format(run='?')}", [root_run_id]).fetchone()
    return found[0] if found else None


def pending_policies(con: Any, tenants: list[str]) -> list[tuple[str, str | None]]:
    """(tenant, bound policy hash) pairs among the pending approvals of these tenants."""
    if not tenants:
        return []
    marks = ", ".join("?" for _ in tenants)
    return [
        (r[0], r[1])
        for r in con.execute(
            f"""SELECT DISTINCT tenant, policy_sha256 FROM approval_queue
                WHERE decided_at IS NULL AND tenant IN ({marks}) ORDER BY 1, 2""",
            list(tenants),
        ).fetchall()
    ]


INBOX_COLUMNS: tuple[str, ...] = (
    "run_id",
    "root_run_id",
    "tenant",
    "document",
    "requester",
    "required_role",
    "runbook",
    "runbook_sha256",
    "depth",
    "requested_at",
    "age_s",
    "sla_state",
    "due_at",
    "escalated_at",
    "guard_ok",
    "guard_warnings",
    "guard_errors",
    "cost_estimate_usd",
)
"""The order of the values :func:`inbox` returns per row (the fields of an inbox item)."""


def inbox(
    con: Any,
    filters: list[InboxFilter],
    *,
    at: datetime,
    due_soon_fraction: float,
    limit: int | None = None,
    offset: int = 0,
) -> list[tuple[Any, ...]]:
    """Pending approvals matching any filter, oldest first, as tuples in :data:`INBOX_COLUMNS`
    order; the age and SLA state (``escalated``, ``overdue``, ``due_soon`` when less than
    `due_soon_fraction` of the SLA is left, else ``ok``) are computed here, at `at`."""
    clauses: list[str] = []
    params: list[Any] = [at, at, at, due_soon_fraction]
    for f in filters:
        if not f.roles:
            continue
        clause = (
            f"(tenant = ? AND policy_sha256 IS NOT DISTINCT FROM ? AND required_role IN "
            f"({', '.join('?' for _ in f.roles)})"
        )
        params += [f.tenant, f.policy_sha256, *f.roles]
        if f.exclude_requester is not None:
            clause += " AND requester <> ?"
            params.append(f.exclude_requester)
        clauses.append(clause + ")")
    if not clauses:
        return []
    sql = f"""SELECT run_id, root_run_id, tenant, document, requester, required_role, runbook,
                     runbook_sha256, depth, requested_at,
                     greatest(CAST(extract(epoch FROM CAST(? AS TIMESTAMP) - requested_at) AS DOUBLE), 0)
                         AS age_s,
                     CASE WHEN escalated_at IS NOT NULL THEN 'escalated'
                          WHEN due_at IS NULL OR coalesce(sla_s, 0) <= 0 THEN 'ok'
                          WHEN due_at <= CAST(? AS TIMESTAMP) THEN 'overdue'
                          WHEN CAST(extract(epoch FROM due_at - CAST(? AS TIMESTAMP)) AS DOUBLE) < ? * sla_s
                               THEN 'due_soon'
                          ELSE 'ok' END AS sla_state,
                     due_at, escalated_at, guard_ok, guard_warnings, guard_errors, cost_estimate_usd
              FROM approval_queue WHERE decided_at IS NULL AND ({" OR ".join(clauses)})
                   -- a run claimed by a decider (being carried out) is no longer decidable
                   AND run_id NOT IN (SELECT run_id FROM runs
                                      WHERE status = 'running' AND claimed_by IS NOT NULL)
              ORDER BY requested_at, run_id"""
    if limit is not None:
        sql += " LIMIT ? OFFSET ?"
        params += [limit, offset]
    return list(con.execute(sql, params).fetchall())


def overdue(con: Any, at: datetime) -> list[dict[str, Any]]:
    """Pending approvals past their due time and not yet escalated, most overdue first."""
    return rows(
        con.execute(
            """SELECT * FROM approval_queue
               WHERE decided_at IS NULL AND escalated_at IS NULL AND due_at IS NOT NULL AND due_at <= ?
               ORDER BY due_at, run_id""",
            [at],
        )
    )


def mark_escalated(con: Any, run_id: str, at: datetime) -> bool:
    """Compare-and-set: True for the one caller that marks this pending approval escalated."""
    cur = con.execute(
        """UPDATE approval_queue SET escalated_at = ?
           WHERE run_id = ? AND escalated_at IS NULL AND decided_at IS NULL""",
        [at, run_id],
    )
    return bool(cur.fetchone()[0])


AGE_BUCKETS: tuple[tuple[str, float | None], ...] = (
    ("under_1h", 3_600),
    ("1h_to_4h", 4 * 3_600),
    ("4h_to_24h", 24 * 3_600),
    ("1d_to_3d", 3 * 86_400),
    ("over_3d", None),
)
"""Pending approvals by age: each bucket holds ages below its bound (and at or above the previous)."""


def health(con: Any, tenants: list[str], at: datetime) -> list[dict[str, Any]]:
    """Per tenant: pending by age bucket, time to approve (p50/p95, seconds), decisions, rejects,
    edits, SLA breaches (approvals decided or still waiting past their due time)."""
    if not tenants:
        return []
    marks = ", ".join("?" for _ in tenants)
    age = "CAST(extract(epoch FROM CAST(? AS TIMESTAMP) - requested_at) AS DOUBLE)"
    bucket_sql = []
    params: list[Any] = []
    lower = 0.0
    for name, upper in AGE_BUCKETS:
        cond = f"decided_at IS NULL AND {age} >= ?"
        params += [at, lower]
        if upper is not None:
            cond += f" AND {age} < ?"
            params += [at, upper]
            lower = upper
        bucket_sql.append(f'count(*) FILTER (WHERE {cond}) AS "{name}"')
    decided = ", ".join(f"'{d}'" for d in DECISIONS)
    took = "CAST(extract(epoch FROM decided_at - requested_at) AS DOUBLE)"
    sql = f"""
        SELECT tenant,
               count(*) FILTER (WHERE decided_at IS NULL) AS pending,
               {", ".join(bucket_sql)},
               count(*) FILTER (WHERE decided_at IS NULL AND due_at IS NOT NULL AND due_at <= ?) AS overdue,
               count(*) FILTER (WHERE decided_at IS NULL AND escalated_at IS NOT NULL) AS escalated_pending,
               count(*) FILTER (WHERE escalated_at IS NOT NULL) AS escalated_total,
               count(*) FILTER (WHERE outcome IN ({decided})) AS decided,
               count(*) FILTER (WHERE outcome IN ('approve', 'edit')) AS approved,
               count(*) FILTER (WHERE outcome = 'reject') AS rejected,
               count(*) FILTER (WHERE outcome = 'edit') AS edited,
               count(*) FILTER (WHERE decided_at IS NOT NULL AND outcome NOT IN ({decided})) AS withdrawn,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY {took})
                   FILTER (WHERE outcome IN ('approve', 'edit')) AS approve_p50_s,
               percentile_cont(0.95) WITHIN GROUP (ORDER BY {took})
                   FILTER (WHERE outcome IN ('approve', 'edit')) AS approve_p95_s,
               count(*) FILTER (WHERE due_at IS NOT NULL
                   AND coalesce(decided_at, CAST(? AS TIMESTAMP)) > due_at) AS sla_breaches
        FROM approval_queue WHERE tenant IN ({marks}) GROUP BY tenant ORDER BY tenant"""
    return rows(con.execute(sql, [*params, at, at, *tenants]))
