"""finish: stamp the final status; a run that reached here still running has completed."""

from __future__ import annotations

from warden.graph.context import RunContext
from warden.graph.nodes._common import record, set_status
from warden.graph.state import RunState, StateUpdate
from warden.store import runs

__all__ = ["finish"]


def finish(state: RunState, ctx: RunContext) -> StateUpdate:
    status = state.get("status") or "running"
    update: StateUpdate = {}
    if status == "running":
        update = set_status(ctx, state, "completed")
        status = "completed"
    with ctx.store.connect() as con:
        runs.settle_duration(con, state["run_id"])
        record(con, state, "run_finished", payload={"status": status, "reason": state.get("reason")})
    return update
