"""Step records: what ran, how often, and its output, so a re-run node reuses finished work."""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from warden.store import known
from warden.store._util import now, rows, scrub, to_json
from warden.store.costs import TREE_COST_SQL

__all__ = [
    "RunGate",
    "StepGate",
    "beat_step",
    "fail_step",
    "finish_step",
    "get_step",
    "link_child",
    "mark_rejected",
    "run_gate",
    "start_step",
    "step_gate",
    "steps_of",
]


def start_step(
    con: Any, run_id: str, step_id: str, *, kind: str, analyser: str | None, system_id: str | None
) -> int:
    """Record an attempt; returns the attempt number (1 for the first)."""
    knows = known.of(con)
    if knows is not None:  # the row is stored once this transaction commits
        knows.steps.add((run_id, step_id))
    return int(
        con.execute(
            """INSERT INTO steps (run_id, step_id, kind, analyser, system_id, status, attempts, started_at)
               VALUES (?, ?, ?, ?, ?, 'running', 1, ?)
               ON CONFLICT (run_id, step_id) DO UPDATE SET attempts = steps.attempts + 1,
                   status = 'running', started_at = excluded.started_at, error = NULL
               RETURNING attempts""",
            [run_id, step_id, kind, analyser, system_id, now()],
        ).fetchone()[0]
    )


def finish_step(
    con: Any,
    run_id: str,
    step_id: str,
    *,
    output: Any,
    output_schema: str | None,
    duration_s: float,
    child_run_id: str | None = None,
) -> None:
    known.keep(con)  # updates no key (warden.store.known)
    con.execute(
        """UPDATE steps SET status = 'completed', finished_at = ?, duration_s = ?, output_json = ?,
               output_schema = ?, child_run_id = coalesce(?, child_run_id)
           WHERE run_id = ? AND step_id = ?""",
        [now(), duration_s, to_json(output), output_schema, child_run_id, run_id, step_id],
    )


def fail_step(
    con: Any, run_id: str, step_id: str, *, error: str, duration_s: float, status: str = "failed"
) -> None:
    """Record a failed attempt; the error quotes exception messages, so credentials are masked
    (before the cut at 4,000 characters, which could split one)."""
    known.keep(con)  # updates no key (warden.store.known)
    con.execute(
        """UPDATE steps SET status = ?, finished_at = ?, duration_s = ?, error = ?
           WHERE run_id = ? AND step_id = ?""",
        [status, now(), duration_s, scrub(error)[:4000], run_id, step_id],
    )


def beat_step(con: Any, run_id: str, step_id: str, *, duration_s: float) -> None:
    """A running step's heartbeat: the time it has run so far, in its ``running`` row's
    ``duration_s``, so the tree's time cap (:func:`run_gate` sums ``duration_s``) counts it if
    the process dies mid-step. A row no longer running (the step ended) is left alone."""
    known.keep(con)  # updates no key (warden.store.known)
    con.execute(
        "UPDATE steps SET duration_s = ? WHERE run_id = ? AND step_id = ? AND status = 'running'",
        [duration_s, run_id, step_id],
    )


def get_step(con: Any, run_id: str, step_id: str) -> dict[str, Any] | None:
    found = rows(con.execute("SELECT * FROM steps WHERE run_id = ? AND step_id = ?", [run_id, step_id]))
    if not found:
        return None
    row = found[0]
    row["output"] = json.loads(row["output_json"]) if row["output_json"] else None
    return row


class StepGate(NamedTuple):
    """What the step node checks before it runs a step."""

    approved: bool
    """The runbook version (by content hash) is published for the tenant."""
    status: str | None
    """The step's status from an earlier attempt; None if it never started."""
    spent_usd: float
    """Money spent anywhere in the run tree."""
    elapsed_s: float
    """Seconds analysers have run anywhere in the run tree (waiting for approval does not count)."""


def step_gate(
    con: Any, *, tenant: str, runbook: str, sha256: str, run_id: str, step_id: str, root_run_id: str
) -> StepGate:
    """The step node's four checks in one statement: every statement costs DuckDB a few ms,
    and this runs before every step."""
    row = con.execute(
        f"""SELECT
               EXISTS (SELECT 1 FROM runbook_versions WHERE tenant = ? AND runbook = ? AND sha256 = ?),
               (SELECT status FROM steps WHERE run_id = ? AND step_id = ?),
               ({TREE_COST_SQL}),
               (SELECT coalesce(sum(s.duration_s), 0) FROM steps s JOIN runs r USING (run_id)
                WHERE r.root_run_id = ? AND s.kind = 'analyser')""",
        [tenant, runbook, sha256, run_id, step_id, root_run_id, root_run_id],
    ).fetchone()
    return StepGate(bool(row[0]), row[1], float(row[2]), float(row[3]))


class RunGate(NamedTuple):
    """What the step node checks before a run's steps, read once for all of them."""

    approved: bool
    """The runbook version (by content hash) is published for the tenant."""
    steps: dict[str, tuple[str, int]]
    """(status, attempts) of each of the run's steps that has a row."""
    spent_usd: float
    """Money spent anywhere in the run tree."""
    elapsed_s: float
    """Seconds analysers have run anywhere in the run tree (waiting for approval does not count),
    a step left ``running`` by a process that died counted up to its last heartbeat."""


def run_gate(con: Any, *, tenant: str, runbook: str, sha256: str, run_id: str, root_run_id: str) -> RunGate:
    """:func:`step_gate` for every step of a run at once, so the step node may reuse it for as
    long as the store has not changed (see ``Store.generation``)."""
    row = con.execute(
        f"""SELECT
               EXISTS (SELECT 1 FROM runbook_versions WHERE tenant = ? AND runbook = ? AND sha256 = ?),
               (SELECT array_agg(ARRAY[step_id, status, CAST(attempts AS VARCHAR)])
                FROM steps WHERE run_id = ?),
               ({TREE_COST_SQL}),
               (SELECT coalesce(sum(s.duration_s), 0) FROM steps s JOIN runs r USING (run_id)
                WHERE r.root_run_id = ? AND s.kind = 'analyser')""",
        [tenant, runbook, sha256, run_id, root_run_id, root_run_id],
    ).fetchone()
    known = {step: (status, int(attempts)) for step, status, attempts in row[1] or []}
    return RunGate(bool(row[0]), known, float(row[2]), float(row[3]))


def steps_of(con: Any, run_id: str) -> list[dict[str, Any]]:
    return rows(
        con.execute(
            """SELECT run_id, step_id, kind, analyser, system_id, status, attempts, started_at,
                      finished_at, duration_s, error, child_run_id
               FROM steps WHERE run_id = ? ORDER BY started_at NULLS LAST""",
            [run_id],
        )
    )


def link_child(con: Any, run_id: str, step_id: str, child_run_id: str) -> None:
    """The child run an ``execute_workflow`` step started."""
    known.keep(con)  # updates no key (warden.store.known)
    con.execute(
        "UPDATE steps SET child_run_id = ? WHERE run_id = ? AND step_id = ?", [child_run_id, run_id, step_id]
    )


def mark_rejected(con: Any, run_id: str, step_id: str) -> None:
    """An ``execute_workflow`` step whose child was rejected: done, but nothing ran."""
    known.keep(con)  # updates no key (warden.store.known)
    con.execute("UPDATE steps SET status = 'rejected' WHERE run_id = ? AND step_id = ?", [run_id, step_id])
