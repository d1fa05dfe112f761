"""What a step must pass before it runs (an approved runbook version, the kill switch, the
tree's cost and time caps) and how a run stops before a step.
"""

from __future__ import annotations

from typing import Any

from warden.graph.context import RunContext
from warden.graph.ids import child_run_id
from warden.graph.ledger import due
from warden.graph.ledger import pending as ledger_of
from warden.graph.nodes._common import record, runbook_model, runbook_sha256, set_status
from warden.graph.state import RunState, StateUpdate
from warden.schemas.runbook import Limits, RunbookDefinition, WorkflowStep
from warden.schemas.status import RunStatus
from warden.store import ledger, runs, steps

__all__ = ["approved_model", "read_gate", "stop", "would_pass_cost_cap"]


def approved_model(ctx: RunContext, state: RunState) -> tuple[RunbookDefinition, str, Limits]:
    """The state's runbook as a model, its content hash and the limits; validated and hashed
    once per invocation (the state's runbook changes only with its approved hash)."""
    key = ("runbook", state["run_id"], state.get("runbook_sha256"))
    found = ctx.memo.get(key)
    if found is None or found[0] is not state["runbook"] or found[1] is not state.get("limits"):
        runbook = runbook_model(ctx, state["runbook"])
        limits = Limits.model_validate(state.get("limits") or {})
        found = (state["runbook"], state.get("limits"), runbook, runbook_sha256(ctx, runbook), limits)
        ctx.memo[key] = found
    return found[2], found[3], found[4]


def read_gate(
    ctx: RunContext,
    state: RunState,
    runbook: RunbookDefinition,
    sha256: str,
    pending: list[dict[str, Any]],
) -> tuple[steps.RunGate, list[dict[str, Any]]]:
    """The run's step gate, and what is still pending after it.

    The gate is read from the store once and reused while the store is unchanged (the same
    ``Store.generation``: nothing written in this process, the file held all along). When it
    must be read again, pending records are flushed first, so the store holds every step the
    checkpoint says is done; otherwise they are flushed when due."""
    key = ("gate", state["run_id"], sha256)
    generation = ctx.store.generation()
    cached = ctx.memo.get(key)
    fresh = generation is not None and cached is not None and cached[0] == generation
    if pending and (not fresh or due(pending)):
        with ctx.store.connect() as con:
            ledger.flush(con, pending)
        pending, fresh = [], False
    if fresh and cached is not None:
        return cached[1], pending
    # the generation before the read: if the file was not open (None), the read opens it and
    # another process may have written just before; the next step reads again and keeps that
    generation = ctx.store.generation()
    with ctx.store.connect(read_only=True) as con:
        gate = steps.run_gate(
            con,
            tenant=state["tenant"],
            runbook=runbook.runbook,
            sha256=sha256,
            run_id=state["run_id"],
            root_run_id=state["root_run_id"],
        )
    if generation is not None:
        ctx.memo[key] = (generation, gate)
    return gate, pending


def stop(
    ctx: RunContext,
    state: RunState,
    current: Any,
    status: RunStatus,
    reason: str,
    pending: list[dict[str, Any]] | None = None,
) -> StateUpdate:
    """Stop this run before `current`; a child run it started (waiting for approval, or cut
    short by a crash) stops with it, so no run of the tree is left waiting or running."""
    pending = ledger_of(state) if pending is None else pending
    if isinstance(current, WorkflowStep):
        child_id = child_run_id(state["run_id"], current.id)
        with ctx.store.connect() as con:
            ledger.flush(con, pending)
            pending = []
            below = runs.stop_subtree(con, child_id, status, f"an enclosing run stopped: {reason}")
            for run_id in below:
                record(
                    con,
                    {"run_id": run_id, "root_run_id": state["root_run_id"], "tenant": state["tenant"]},
                    f"status:{status}",
                    payload={"reason": reason, "stopped_by": state["run_id"]},
                )
            if below:
                steps.fail_step(
                    con,
                    state["run_id"],
                    current.id,
                    error=f"stopped: {reason}",
                    duration_s=0.0,
                    status=status,
                )
    return set_status(ctx, state, status, reason, pending)


def would_pass_cost_cap(estimate: float, left: float | None) -> bool:
    """Whether a step estimated at `estimate` USD would pass the tree's cost cap with `left` USD
    left under it (None: uncapped): the gate asks before a step, and again before each retry
    (an attempt may have spent)."""
    return left is not None and estimate > left
