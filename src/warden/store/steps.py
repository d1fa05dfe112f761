"""Step records: what ran, how often, and its output, so a re-run node reuses finished work."""

from __future__ import annotations

import json
from typing import Any

from warden.store._util import now, rows, to_json

__all__ = ["fail_step", "finish_step", "get_step", "start_step", "steps_of"]


def start_step(
    con: Any, run_id: str, step_id: str, *, kind: str, analyser: str | None, system_id: str | None
) -> int:
    """Record an attempt; returns the attempt number (1 for the first)."""
    con.execute(
        """INSERT INTO steps (run_id, step_id, kind, analyser, system_id, status, attempts, started_at)
           VALUES (?, ?, ?, ?, ?, 'running', 1, ?)
           ON CONFLICT (run_id, step_id) DO UPDATE SET attempts = steps.attempts + 1, status = 'running',
               started_at = excluded.started_at, error = NULL""",
        [run_id, step_id, kind, analyser, system_id, now()],
    )
    return int(
        con.execute(
            "SELECT attempts FROM steps WHERE run_id = ? AND step_id = ?", [run_id, step_id]
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
    con.execute(
        """UPDATE steps SET status = 'completed', finished_at = ?, duration_s = ?, output_json = ?,
               output_schema = ?, child_run_id = coalesce(?, child_run_id)
           WHERE run_id = ? AND step_id = ?""",
        [now(), duration_s, to_json(output), output_schema, child_run_id, run_id, step_id],
    )


def fail_step(
    con: Any, run_id: str, step_id: str, *, error: str, duration_s: float, status: str = "failed"
) -> None:
    con.execute(
        """UPDATE steps SET status = ?, finished_at = ?, duration_s = ?, error = ?
           WHERE run_id = ? AND step_id = ?""",
        [status, now(), duration_s, error[:4000], run_id, step_id],
    )


def get_step(con: Any, run_id: str, step_id: str) -> dict[str, Any] | None:
    found = rows(con.execute("SELECT * FROM steps WHERE run_id = ? AND step_id = ?", [run_id, step_id]))
    if not found:
        return None
    row = found[0]
    row["output"] = json.loads(row["output_json"]) if row["output_json"] else None
    return row


def steps_of(con: Any, run_id: str) -> list[dict[str, Any]]:
    return rows(
        con.execute(
            """SELECT run_id, step_id, kind, analyser, system_id, status, attempts, started_at,
                      finished_at, duration_s, error, child_run_id
               FROM steps WHERE run_id = ? ORDER BY started_at NULLS LAST""",
            [run_id],
        )
    )
