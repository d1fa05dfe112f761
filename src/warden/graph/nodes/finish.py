"""finish: stamp the final status; a run that reached here still running has completed."""

from __future__ import annotations

from warden.graph.context import RunContext
from warden.graph.nodes._common import record, status_in
from warden.graph.state import RunState, StateUpdate
from warden.store import ledger, runs

__all__ = ["finish"]


def finish(state: RunState, ctx: RunContext) -> StateUpdate:
    status = state.get("status") or "running"
    update: StateUpdate = {"ledger": []}
    # one transaction: the run's pending ledger records, its final status, its duration
    with ctx.store.connect() as con:
        if status == "running":
            status_in(con, state, "completed", None, state.get("ledger"))
            update.update(status="completed", reason=None)
            status = "completed"
        else:
            ledger.flush(con, state.get("ledger") or [])
        runs.settle_duration(con, state["run_id"])
        record(con, state, "run_finished", payload={"status": status, "reason": state.get("reason")})
    return update
