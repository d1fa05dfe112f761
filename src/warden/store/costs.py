"""The cost ledger: money spent per run, step and model; caps compare against the tree's sum."""

from __future__ import annotations

import math
from typing import Any

from warden.errors import WardenError
from warden.store._util import now

__all__ = ["TREE_COST_SQL", "NegativeCost", "add_cost", "tree_cost"]


class NegativeCost(WardenError):
    """A ledger entry that would lower what a run spent: it would credit the tree's cost cap."""

    code = "negative_cost"

    def __init__(self, what: str) -> None:
        super().__init__(
            f"refused a cost ledger entry with {what}: an entry can only add to what a run spent",
            fix="report the cost (or the token usage it came from) as a non-negative, finite number",
        )


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
    """Book one entry. The second line of defence behind the LLM seam's usage check: a negative
    or non-finite amount or token count is refused (:class:`NegativeCost`), never stored."""
    _check_amounts(amount_usd, tokens_in, tokens_out)
    con.execute(
        """INSERT INTO cost_ledger VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING""",
        [entry_id, run_id, root_run_id, step_id, kind, model, tokens_in, tokens_out, amount_usd, now()],
    )
    con.execute(
        "UPDATE runs SET cost_usd = (SELECT coalesce(sum(amount_usd), 0) FROM cost_ledger WHERE run_id = ?) "
        "WHERE run_id = ?",
        [run_id, run_id],
    )


def _check_amounts(amount_usd: float, tokens_in: int, tokens_out: int) -> None:
    if not math.isfinite(amount_usd) or amount_usd < 0:
        raise NegativeCost(f"amount_usd {amount_usd!r}")
    if tokens_in < 0 or tokens_out < 0:
        raise NegativeCost(f"tokens {tokens_in}/{tokens_out}")


TREE_COST_SQL = "SELECT coalesce(sum(amount_usd), 0) FROM cost_ledger WHERE root_run_id = ?"
"""Money spent anywhere in a run tree; one parameter, the root run id (the step gate embeds it)."""


def tree_cost(con: Any, root_run_id: str) -> float:
    return float(con.execute(TREE_COST_SQL, [root_run_id]).fetchone()[0])
