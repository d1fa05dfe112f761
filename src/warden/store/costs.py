"""The cost ledger: money spent per run, step and model; caps compare against the tree's sum."""

from __future__ import annotations

from typing import Any

from warden.store._util import now

__all__ = ["TREE_COST_SQL", "add_cost", "tree_cost"]


def add_cost(
    con: Any,
    *,
    entry_id: str,
    run_id: str,
    root_run_id: str,
    step_id: str | None,
    kind: str,
    amount_usd: float,
    model: str | None = None,
    tokens_in: int = 0,
    tokens_out: int = 0,
) -> None:
    con.execute(
        """INSERT INTO cost_ledger VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING""",
        [entry_id, run_id, root_run_id, step_id, kind, model, tokens_in, tokens_out, amount_usd, now()],
    )
    con.execute(
        "UPDATE runs SET cost_usd = (SELECT coalesce(sum(amount_usd), 0) FROM cost_ledger WHERE run_id = ?) "
        "WHERE run_id = ?",
        [run_id, run_id],
    )


TREE_COST_SQL = "SELECT coalesce(sum(amount_usd), 0) FROM cost_ledger WHERE root_run_id = ?"
"""Money spent anywhere in a run tree; one parameter, the root run id (the step gate embeds it)."""


def tree_cost(con: Any, root_run_id: str) -> float:
    return float(con.execute(TREE_COST_SQL, [root_run_id]).fetchone()[0])
