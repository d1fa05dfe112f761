"""plan: settle which runbook this run executes and record it against the run."""

from __future__ import annotations

from pydantic import ValidationError

from warden.graph.context import RunContext
from warden.graph.ledger import pending, tagged
from warden.graph.nodes._common import runbook_model, runbook_sha256
from warden.graph.state import RunState, StateUpdate
from warden.schemas.runbook import RunbookDefinition
from warden.store import ledger

__all__ = ["plan"]


def plan(state: RunState, ctx: RunContext) -> StateUpdate:
    """The root run's runbook comes from the caller; a child's from its parent's planner step.

    A draft that does not even parse is passed on unchanged: the guard reports why.
    """
    data = state.get("runbook")
    try:
        runbook = RunbookDefinition.model_validate(data)
    except ValidationError:
        return {"runbook_sha256": None}
    sha = runbook_sha256(ctx, runbook)
    # written with the approval's transaction (or before its interrupt): see graph/ledger.py
    drafted = [
        ledger.drafted_record(
            run_id=state["run_id"], runbook=runbook.runbook, version=runbook.version, sha256=sha
        ),
        ledger.audit_record(
            run_id=state["run_id"],
            root_run_id=state["root_run_id"],
            tenant=state["tenant"],
            actor="warden",
            event="runbook_drafted",
            payload={"runbook": runbook.runbook, "sha256": sha},
            key=f"{state['run_id']}:runbook_drafted",
        ),
    ]
    dumped = runbook.model_dump(mode="json")
    runbook_model(ctx, dumped, runbook)  # guard, approval and the steps reuse it
    return {
        "runbook": dumped,
        "runbook_sha256": sha,
        "ledger": [*pending(state), *tagged(drafted)],
    }
