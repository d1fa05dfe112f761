"""Runs and their lineage: parent, root, depth, thread and checkpoint namespace."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from warden.store._util import now, rows, scrub

__all__ = [
    "TERMINAL",
    "RunRow",
    "RunStatus",
    "claim",
    "create_run",
    "get_run",
    "list_runs",
    "set_status",
    "tree",
]

RunStatus = Literal[
    "running",
    "waiting_approval",
    "completed",
    "rejected",
    "failed",
    "budget_exceeded",
    "depth_exceeded",
    "timed_out",
    "cancelled",
]
"""Where a run stands.

- ``running``: working, or resumable after a crash.
- ``waiting_approval``: paused at the approval interrupt.
- ``completed``: every step finished.
- ``rejected``: a human rejected it, or the guard refused it.
- ``failed``: a step failed after its retries, or the planner failed; or an internal error
  stopped it (its reason says so, and `warden resume` retries it once the cause is fixed).
- ``budget_exceeded`` / ``depth_exceeded`` / ``timed_out``: a cap of the run tree stopped it.
- ``cancelled``: the kill switch stopped it.
"""

TERMINAL = frozenset(
    {"completed", "rejected", "failed", "budget_exceeded", "depth_exceeded", "timed_out", "cancelled"}
)


@dataclass(frozen=True)
class RunRow:
    run_id: str
    root_run_id: str
    parent_run_id: str | None
    parent_step_id: str | None
    depth: int
    thread_id: str
    checkpoint_ns: str | None
    tenant: str
    requester: str


def create_run(con: Any, row: RunRow) -> None:
    """Insert the run once; a re-run of the node that creates it changes nothing."""
    t = now()
    con.execute(
        """INSERT INTO runs (run_id, root_run_id, parent_run_id, parent_step_id, depth, thread_id,
               checkpoint_ns, tenant, requester, status, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'running', ?, ?) ON CONFLICT DO NOTHING""",
        [
            row.run_id,
            row.root_run_id,
            row.parent_run_id,
            row.parent_step_id,
            row.depth,
            row.thread_id,
            row.checkpoint_ns,
            row.tenant,
            row.requester,
            t,
            t,
        ],
    )


def set_status(con: Any, run_id: str, status: RunStatus, reason: str | None = None, **fields: Any) -> None:
    """Move a run to `status`; terminal statuses also stamp finished_at. The reason quotes error
    messages, so credentials in it are masked."""
    sets = ["status = ?", "status_reason = ?", "updated_at = ?"]
    params: list[Any] = [status, scrub(reason) if reason else reason, now()]
    if status in TERMINAL:
        sets.append("finished_at = coalesce(finished_at, ?)")
        params.append(now())
    for name, value in fields.items():
        sets.append(f"{name} = ?")
        params.append(scrub(value) if isinstance(value, str) else value)
    con.execute(f"UPDATE runs SET {', '.join(sets)} WHERE run_id = ?", [*params, run_id])


def claim(con: Any, run_id: str, claimant: str) -> bool:
    """Compare-and-set: move a waiting run to running for `claimant`; False if someone else won."""
    cur = con.execute(
        """UPDATE runs SET status = 'running', claimed_by = ?, updated_at = ?
           WHERE run_id = ? AND status = 'waiting_approval'""",
        [claimant, now(), run_id],
    )
    return bool(cur.fetchone()[0])


def get_run(con: Any, run_id: str) -> dict[str, Any] | None:
    found = rows(con.execute("SELECT * FROM runs WHERE run_id = ?", [run_id]))
    return found[0] if found else None


def list_runs(con: Any, *, status: str | None = None, tenant: str | None = None) -> list[dict[str, Any]]:
    sql = "SELECT * FROM runs WHERE 1=1"
    params: list[Any] = []
    if status:
        sql += " AND status = ?"
        params.append(status)
    if tenant:
        sql += " AND tenant = ?"
        params.append(tenant)
    return rows(con.execute(sql + " ORDER BY created_at, run_id", params))


def tree(con: Any, root_run_id: str) -> list[dict[str, Any]]:
    """Every run of a tree, parents before children."""
    return rows(
        con.execute("SELECT * FROM runs WHERE root_run_id = ? ORDER BY depth, created_at", [root_run_id])
    )
