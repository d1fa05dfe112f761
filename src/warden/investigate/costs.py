"""Costs of a run tree: the ledger's entries and their totals by run, step, model and kind."""

from __future__ import annotations

from typing import Any

from warden.investigate.source import Source
from warden.store import reads

__all__ = ["cost_entries", "cost_summary"]


def cost_entries(source: Source, run_id: str) -> list[dict[str, Any]]:
    """Every ledger entry of the tree, oldest first."""
    with source.connect() as con:
        source.run(run_id)
        return reads.costs_of_tree(con, run_id)


def cost_summary(source: Source, run_id: str) -> dict[str, Any]:
    """{"total_usd", "tokens_in", "tokens_out", "by_run", "by_step", "by_model", "by_kind"}.

    Offline runs cost nothing: the totals are then 0 and the breakdowns empty.
    """
    entries = cost_entries(source, run_id)

    def by(*keys: str) -> list[dict[str, Any]]:
        sums: dict[tuple[Any, ...], float] = {}
        for e in entries:
            k = tuple(e[key] for key in keys)
            sums[k] = sums.get(k, 0.0) + float(e["amount_usd"])
        rows = [{**dict(zip(keys, k, strict=True)), "amount_usd": v} for k, v in sums.items()]
        return sorted(rows, key=lambda r: -r["amount_usd"])

    return {
        "total_usd": sum(float(e["amount_usd"]) for e in entries),
        "tokens_in": sum(int(e["tokens_in"]) for e in entries),
        "tokens_out": sum(int(e["tokens_out"]) for e in entries),
        "by_run": by("run_id"),
        "by_step": by("run_id", "step_id"),
        "by_model": by("model"),
        "by_kind": by("kind"),
    }
