"""finish: stamp the final status; a run that reached here still running has completed."""

from __future__ import annotations

from warden.graph.context import RunContext
from warden.graph.nodes._common import event
from warden.graph.state import RunState, StateUpdate
from warden.store import ledger, runs

__all__ = ["finish"]


def finish(state: RunState, ctx: RunContext) -> StateUpdate:
    status = state.get("status") or "running"
    update: StateUpdate = {"ledger": []}
    records = list(state.get("ledger") or [])
    completing = status == "running"
    if completing:
        status = "completed"
        records.append(event(state, "status:completed", payload={"reason": None}))
        update.update(status="completed", reason=None)
    records.append(event(state, "run_finished", payload={"status": status, "reason": state.get("reason")}))
    # one transaction: the run's pending ledger records and its events (one flush, chained in
    # this order), its final status, its duration (summed from the steps just written)
    with ctx.store.connect() as con:
        ledger.flush(con, records)
        if completing:
            runs.complete(con, state["run_id"])
        else:
            runs.settle_duration(con, state["run_id"])
    return update
