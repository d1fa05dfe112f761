"""plan: settle which runbook this run executes and record it against the run."""

from __future__ import annotations

from pydantic import ValidationError

from warden.graph.nodes._common import record
from warden.graph.runtime import Runtime
from warden.graph.state import RunState
from warden.runbooks.hashing import sha256_of
from warden.schemas.runbook import RunbookDefinition

__all__ = ["plan"]


def plan(state: RunState, rt: Runtime) -> dict:
    """The root run's runbook comes from the caller; a child's from its parent's planner step.

    A draft that does not even parse is passed on unchanged: the guard reports why.
    """
    data = state.get("runbook")
    try:
        runbook = RunbookDefinition.model_validate(data)
    except ValidationError:
        return {"runbook_sha256": None}
    sha = sha256_of(runbook)
    with rt.store.connect() as con:
        con.execute(
            "UPDATE runs SET runbook = ?, runbook_version = ?, runbook_sha256 = ? WHERE run_id = ?",
            [runbook.runbook, runbook.version, sha, state["run_id"]],
        )
        record(con, state, "runbook_drafted", payload={"runbook": runbook.runbook, "sha256": sha})
    return {"runbook": runbook.model_dump(mode="json"), "runbook_sha256": sha}
