"""finish: stamp the final status; a run that reached here still running has completed."""

from __future__ import annotations

from warden.graph.nodes._common import record, set_status
from warden.graph.runtime import Runtime
from warden.graph.state import RunState

__all__ = ["finish"]


def finish(state: RunState, rt: Runtime) -> dict:
    status = state.get("status") or "running"
    update: dict = {}
    if status == "running":
        update = set_status(rt, state, "completed")
        status = "completed"
    with rt.store.connect() as con:
        con.execute(
            """UPDATE runs SET duration_s = (SELECT coalesce(sum(duration_s), 0) FROM steps
                   WHERE steps.run_id = runs.run_id AND kind = 'analyser') WHERE run_id = ?""",
            [state["run_id"]],
        )
        record(con, state, "run_finished", payload={"status": status, "reason": state.get("reason")})
    return update
