"""Runs and their lineage: parent, root, depth, thread and checkpoint namespace."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from warden.schemas.status import TERMINAL, RunStatus
from warden.store import approval_queue, documents, known
from warden.store._util import now, rows, scrub, to_json

__all__ = [
    "TERMINAL",
    "RunRow",
    "RunStatus",
    "claim",
    "complete",
    "create_run",
    "get_run",
    "list_runs",
    "live_roots",
    "record_approved_runbook",
    "record_drafted_runbook",
    "release_claim",
    "runs_of_trees_in_flight",
    "set_status",
    "settle_duration",
    "stop_subtree",
    "tree",
    "visible_runs",
]


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
    policy_sha256: str | None = None
    request: dict[str, Any] | None = None
    """What was asked for (documents, runbook): a run with no checkpoint restarts from it."""


def create_run(con: Any, row: RunRow, *, new: bool = False) -> None:
    """Insert the run once; a re-run of the node that creates it changes nothing. With `new`
    (the caller knows no row can hold this id: a fresh random id, or a child whose step row,
    written in the same transaction, did not exist) a plain INSERT, ~3 ms of DuckDB's CPU
    cheaper than ``ON CONFLICT``; an existing row then fails the transaction."""
    t = now()
    conflict = "" if new else "ON CONFLICT DO NOTHING"
    con.execute(
        f"""INSERT INTO runs (run_id, root_run_id, parent_run_id, parent_step_id, depth, thread_id,
               checkpoint_ns, tenant, requester, policy_sha256, request_json, status, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'running', ?, ?) {conflict}""",
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
            row.policy_sha256,
            to_json(row.request) if row.request is not None else None,
            t,
            t,
        ],
    )
    knows = known.of(con) if new else None
    if knows is not None:
        # the plain INSERT went in: a new id, so every row of the run is this process's to
        # write from now on, and each of its writers notes what it writes (warden.store.known)
        knows.fresh[row.run_id] = None
        knows.documents.setdefault(row.run_id, set())


def set_status(con: Any, run_id: str, status: RunStatus, reason: str | None = None, **fields: Any) -> None:
    """Move a run to `status`; terminal statuses also stamp finished_at and close the run's open
    approval-queue row (cancelled, stopped by the kill switch or a cap, failed) in the same
    transaction. The reason quotes error messages, so credentials in it are masked."""
    sets = ["status = ?", "status_reason = ?", "updated_at = ?"]
    params: list[Any] = [status, scrub(reason) if reason else reason, now()]
    if status in TERMINAL:
        sets.append("finished_at = coalesce(finished_at, ?)")
        params.append(now())
    for name, value in fields.items():
        sets.append(f"{name} = ?")
        params.append(scrub(value) if isinstance(value, str) else value)
    con.execute(f"UPDATE runs SET {', '.join(sets)} WHERE run_id = ?", [*params, run_id])
    if status in TERMINAL:
        approval_queue.close(con, run_id, status)


def claim(con: Any, run_id: str, claimant: str) -> bool:
    """Compare-and-set: move a waiting run to running for `claimant`; False if someone else won."""
    cur = con.execute(
        """UPDATE runs SET status = 'running', claimed_by = ?, updated_at = ?
           WHERE run_id = ? AND status = 'waiting_approval'""",
        [claimant, now(), run_id],
    )
    return bool(cur.fetchone()[0])


def release_claim(con: Any, run_id: str, claimant: str, reason: str) -> bool:
    """Compare-and-set: drop `claimant`'s claim of a run (its carry-out failed); a run still
    running keeps its status with `reason`. False when the claim is not that claimant's now
    (settled, stopped, or claimed again meanwhile)."""
    cur = con.execute(
        """UPDATE runs SET claimed_by = NULL, updated_at = ?,
               status_reason = CASE WHEN status = 'running' THEN ? ELSE status_reason END
           WHERE run_id = ? AND claimed_by = ?""",
        [now(), scrub(reason), run_id, claimant],
    )
    return bool(cur.fetchone()[0])


def get_run(con: Any, run_id: str) -> dict[str, Any] | None:
    found = rows(con.execute("SELECT * FROM runs WHERE run_id = ?", [run_id]))
    return found[0] if found else None


def live_roots(con: Any, tenants: list[str]) -> list[str]:
    """Roots of the trees of these tenants with a run that has not ended (oldest first)."""
    if not tenants:
        return []
    marks, states = ", ".join("?" for _ in tenants), ", ".join("?" for _ in TERMINAL)
    found = con.execute(
        f"""SELECT root_run_id, min(created_at) AS first FROM runs
            WHERE tenant IN ({marks}) AND status NOT IN ({states})
            GROUP BY root_run_id ORDER BY first, root_run_id""",
        [*tenants, *sorted(TERMINAL)],
    ).fetchall()
    return [root for root, _ in found]


def list_runs(con: Any, *, status: str | None = None, tenant: str | None = None) -> list[dict[str, Any]]:
    """Runs oldest first (all tenants unless one is named): for benches and the investigator."""
    return visible_runs(con, tenants=None if tenant is None else [tenant], status=status, newest_first=False)


def visible_runs(
    con: Any,
    *,
    tenants: list[str] | None,
    status: str | None = None,
    since: Any = None,
    limit: int | None = None,
    newest_first: bool = True,
) -> list[dict[str, Any]]:
    """Runs of these tenants (None: every tenant), with the name of their first document ('+N'
    when the run reads a document set)."""
    sql = f"""SELECT r.*, {documents.SET_NAME.format(run="r.root_run_id")} AS document
             FROM runs r WHERE 1=1"""
    params: list[Any] = []
    if tenants is not None:
        if not tenants:
            return []
        sql += f" AND r.tenant IN ({', '.join('?' for _ in tenants)})"
        params += list(tenants)
    if status:
        sql += " AND r.status = ?"
        params.append(status)
    if since is not None:
        sql += " AND r.created_at >= ?"
        params.append(since)
    order = "DESC" if newest_first else "ASC"
    sql += f" ORDER BY r.created_at {order}, r.run_id {order}"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return rows(con.execute(sql, params))


def stop_subtree(con: Any, run_id: str, status: RunStatus, reason: str) -> list[str]:
    """Give `run_id` and every run below it that has not ended `status`; returns their ids."""
    marks = ", ".join("?" for _ in TERMINAL)
    below = con.execute(
        f"""WITH RECURSIVE sub(run_id) AS (
               SELECT run_id FROM runs WHERE run_id = ?
               UNION ALL SELECT r.run_id FROM runs r JOIN sub s ON r.parent_run_id = s.run_id)
           SELECT run_id FROM runs JOIN sub USING (run_id) WHERE status NOT IN ({marks})""",
        [run_id, *sorted(TERMINAL)],
    ).fetchall()
    for (found,) in below:
        set_status(con, found, status, reason, claimed_by=None)
    return [found for (found,) in below]


def record_drafted_runbook(con: Any, run_id: str, *, runbook: str, version: int, sha256: str | None) -> None:
    """The runbook a run will execute, as drafted (before approval)."""
    con.execute(
        "UPDATE runs SET runbook = ?, runbook_version = ?, runbook_sha256 = ? WHERE run_id = ?",
        [runbook, version, sha256, run_id],
    )


def record_approved_runbook(con: Any, run_id: str, *, sha256: str, version: int) -> None:
    """The version an approver published for this run (an edit changes the hash)."""
    con.execute(
        "UPDATE runs SET runbook_sha256 = ?, runbook_version = ? WHERE run_id = ?", [sha256, version, run_id]
    )


_ANALYSER_TIME = "(SELECT coalesce(sum(duration_s), 0) FROM steps WHERE run_id = ? AND kind = 'analyser')"
"""A run's duration (its one parameter: the run id): see :func:`settle_duration`."""


def complete(con: Any, run_id: str) -> bool:
    """A run that ran its steps to the end: ``completed``, finished now and its duration settled
    (as :func:`settle_duration` sums it), in one ``UPDATE`` instead of :func:`set_status`'s and
    :func:`settle_duration`'s two and the queue's close. A run completes only past its approval,
    whose human decision closed its approval-queue row in the decision's own transaction (and a
    policy rule's approval never opened one), so there is no open row to close. Only a run still
    ``running``: one the ledger ended meanwhile (the kill switch, a withdrawal) keeps its end,
    and False says so."""
    at = now()
    cur = con.execute(
        f"""UPDATE runs SET status = 'completed', status_reason = NULL, updated_at = ?,
                finished_at = coalesce(finished_at, ?), duration_s = {_ANALYSER_TIME}
            WHERE run_id = ? AND status = 'running'""",
        [at, at, run_id, run_id],
    )
    return bool(cur.fetchone()[0])


def settle_duration(con: Any, run_id: str) -> None:
    """A finished run's duration: the time its analysers ran (waiting for approval not counted).
    A step's row is its latest attempt (keyed by run and step), so a retried step counts once.

    The sum is an uncorrelated subquery on the run's key, not one correlated with ``runs``:
    DuckDB plans the correlated form as a join over the whole ``steps`` table (~1.7 ms against
    ~1.2 ms per call on a warm analysis; docs/perf/ledger-statements.md)."""
    con.execute(f"UPDATE runs SET duration_s = {_ANALYSER_TIME} WHERE run_id = ?", [run_id, run_id])


def runs_of_trees_in_flight(con: Any) -> list[dict[str, Any]]:
    """Every run of each tree that has a run `running` (parents before children): the service
    tells which of them are mid-work and which only wait for a child's approval."""
    return rows(
        con.execute(
            """SELECT run_id, root_run_id, parent_run_id, tenant, status, claimed_by, updated_at
               FROM runs WHERE root_run_id IN (SELECT root_run_id FROM runs WHERE status = 'running')
               ORDER BY root_run_id, depth, created_at"""
        )
    )


def tree(con: Any, root_run_id: str) -> list[dict[str, Any]]:
    """Every run of a tree, parents before children."""
    return rows(
        con.execute("SELECT * FROM runs WHERE root_run_id = ? ORDER BY depth, created_at", [root_run_id])
    )
