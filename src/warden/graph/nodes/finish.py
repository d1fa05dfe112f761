"""finish: stamp the final status; a run that reached here still running has completed."""

from __future__ import annotations

from typing import Any

from warden.graph.context import RunContext
from warden.graph.nodes._common import event
from warden.graph.state import RunState, StateUpdate
from warden.store import ledger, runs

__all__ = ["finish"]


class _EndedMeanwhile(Exception):
    """The ledger ended the run while its last step ran (the kill switch, a withdrawal)."""


def finish(state: RunState, ctx: RunContext) -> StateUpdate:
    status = state.get("status") or "running"
    reason = state.get("reason")
    update: StateUpdate = {"ledger": []}
    pending = list(state.get("ledger") or [])
    if status == "running":
        try:
            _write(state, ctx, pending, "completed", None, completing=True)
            update.update(status="completed", reason=None)
            return update
        except _EndedMeanwhile:  # rolled back: the end the ledger holds stands, not a completion
            with ctx.store.connect(read_only=True) as con:
                row: dict[str, Any] = runs.get_run(con, state["run_id"]) or {}
            status, reason = row.get("status") or "cancelled", row.get("status_reason")
            update.update(status=status, reason=reason)
    _write(state, ctx, pending, status, reason, completing=False)
    return update


def _write(
    state: RunState, ctx: RunContext, pending: list[Any], status: str, reason: str | None, *, completing: bool
) -> None:
    """One transaction: the run's pending ledger records and its events (one flush, chained in
    this order), its final status, its duration (summed from the steps just written)."""
    records = list(pending)
    if completing:
        records.append(event(state, "status:completed", payload={"reason": None}))
    records.append(event(state, "run_finished", payload={"status": status, "reason": reason}))
    with ctx.store.connect() as con:
        ledger.flush(con, records)
        if completing:
            if not runs.complete(con, state["run_id"]):
                raise _EndedMeanwhile
        else:
            runs.settle_duration(con, state["run_id"])
