"""A child run started by an ``execute_workflow`` step: recorded with the step, handed over as
a :class:`ChildRequest` (a nested graph embedded, a child workflow on Temporal), and its end
recorded on the parent's step.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from warden.governance.policy import tighter
from warden.graph.context import RunContext
from warden.graph.ids import child_run_id
from warden.graph.nodes._common import event, set_status
from warden.graph.nodes.approval import approval_role
from warden.graph.nodes.step.gate import approved_model, read_gate
from warden.graph.nodes.step.inputs import decoded, produced_here
from warden.graph.state import RunState, StateUpdate
from warden.guard.context import step_caps
from warden.runbooks.templates import parse_reference
from warden.safeload import plain_data_problem
from warden.schemas.runbook import Limits, RunbookDefinition, WorkflowStep
from warden.schemas.status import CAP_STATUSES, RunStatus
from warden.store import ledger, runs, steps

__all__ = ["ChildRequest", "child_ended", "run_child"]


@dataclass(frozen=True)
class ChildRequest:
    """A child run a step has recorded and wants run: by a nested graph (embedded) or as a child
    workflow (Temporal); :func:`child_ended` then records how it ended."""

    step_id: str
    child_run_id: str
    state: RunState
    started_at: float
    """Wall-clock time the child was handed over (for the step's duration)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "step_id": self.step_id,
            "child_run_id": self.child_run_id,
            "state": dict(self.state),
            "started_at": self.started_at,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ChildRequest:
        return cls(data["step_id"], data["child_run_id"], data["state"], data["started_at"])


def _child_runbook(
    ctx: RunContext, state: RunState, current: WorkflowStep, pending: list[dict[str, Any]]
) -> Any:
    if not isinstance(current.execute_workflow, str):
        return current.execute_workflow.model_dump(mode="json")
    ref = parse_reference(current.execute_workflow)
    # the guard refused anything else (an input's runbook: contract_mismatch)
    assert ref is not None and ref.kind == "step"
    here = produced_here(state, pending)
    if ref.name in here:  # the planner step's records are not flushed yet
        return decoded(here[ref.name])
    with ctx.store.connect(read_only=True) as con:
        produced = steps.get_step(con, state["run_id"], ref.name)
    return produced["output"] if produced else None


def run_child(
    state: RunState,
    ctx: RunContext,
    runbook: RunbookDefinition,
    current: WorkflowStep,
    limits: Limits,
    cursor: int,
    started_before: bool,
    pending: list[dict[str, Any]],
    attempts_before: int,
) -> StateUpdate | ChildRequest:
    if pending and started_before:  # the child may wait for approval: nothing may wait unwritten
        with ctx.store.connect() as con:
            ledger.flush(con, pending)
    child_id = child_run_id(state["run_id"], current.id)
    draft = _child_runbook(ctx, state, current, pending)
    problem = plain_data_problem(draft)
    if problem is not None:
        # the draft would enter the child's checkpoint, which cannot hold it (e.g. an integer
        # past 64 bits): refuse it here, as the guard would a file, instead of crashing there
        path, message, code = problem
        where = path or "the runbook"
        reason = f"step '{current.id}': the generated runbook cannot be run ({code}): {where}: {message}"
        with ctx.store.connect() as con:
            ledger.flush(con, pending)
            steps.start_step(con, state["run_id"], current.id, kind="workflow", analyser=None, system_id=None)
            steps.fail_step(con, state["run_id"], current.id, error=reason, duration_s=0.0)
        return set_status(ctx, state, "failed", reason, [])
    if not started_before:
        with ctx.store.connect() as con:
            # the step's first row (linked to its child) and the child's event ride in one flush
            # with the run's pending records (chained after them): one INSERT per table
            first = ledger.step_record(
                run_id=state["run_id"],
                step_id=current.id,
                kind="workflow",
                analyser=None,
                system_id=None,
                status="running",
                attempts=attempts_before + 1,
                started_at=ledger.stamp(),
                finished_at=None,
                duration_s=None,
                child_run_id=child_id,
            )
            started = event(state, "child_started", payload={"step": current.id, "child_run_id": child_id})
            stored = ledger.flush(con, [*pending, first, started])
            runs.create_run(
                con,
                runs.RunRow(
                    run_id=child_id,
                    root_run_id=state["root_run_id"],
                    parent_run_id=state["run_id"],
                    parent_step_id=current.id,
                    depth=state.get("depth", 0) + 1,
                    thread_id=state["root_run_id"],
                    checkpoint_ns=f"{state['run_id']}/{current.id}",
                    tenant=state["tenant"],
                    requester=state["requester"],
                    policy_sha256=ctx.policy.sha256,  # the tree's bound policy governs its decisions
                ),
                # the step's first row: the child's run row, only ever written with it, is new too
                new=(state["run_id"], current.id) not in stored,
            )
    child_state: RunState = {
        "run_id": child_id,
        "root_run_id": state["root_run_id"],
        "parent_run_id": state["run_id"],
        "parent_step_id": current.id,
        "depth": state.get("depth", 0) + 1,
        "tenant": state["tenant"],
        "requester": state["requester"],
        "document_ids": state.get("document_ids", []),
        "runbook": draft,
        "parent_limits": tighter(limits, _step_caps(state, ctx, current)).model_dump(mode="json"),
        # who approves the child, and the names it may not be published under, come from the tree
        "parent_role": approval_role(state, runbook),
        "ancestor_runbooks": [*(state.get("ancestor_runbooks") or []), runbook.runbook],
        "status": "running",
    }
    return ChildRequest(current.id, child_id, child_state, time.time())


def _step_caps(state: RunState, ctx: RunContext, current: WorkflowStep) -> Limits:
    """The caps the step sets its child (:func:`warden.guard.context.step_caps`): its
    `timeout_s` bounds the child from the tree's analyser time when it starts, read through
    the step gate (the run's pending records are written by now). A resumed child keeps the
    caps its checkpointed state got when it started."""
    if current.timeout_s is None:
        return current.limits
    runbook, sha256, _ = approved_model(ctx, state)
    gate, _ = read_gate(ctx, state, runbook, sha256, [])
    return step_caps(current, gate.elapsed_s)


def child_ended(
    state: RunState, ctx: RunContext, request: ChildRequest, final: dict[str, Any]
) -> StateUpdate:
    """Record how the child run of a step ended (its final state), and move the parent on."""
    child_id, step_id = request.child_run_id, request.step_id
    cursor = state.get("cursor", 0)
    took = max(time.time() - request.started_at, 0.0)
    child_status = final.get("status") or "failed"
    with ctx.store.connect() as con:
        if child_status in ("completed", "rejected"):
            steps.finish_step(
                con,
                state["run_id"],
                step_id,
                output={"child_run_id": child_id, "status": child_status},
                output_schema="findings",
                duration_s=took,
                child_run_id=child_id,
            )
            if child_status == "rejected":
                steps.mark_rejected(con, state["run_id"], step_id)
        else:
            steps.fail_step(
                con,
                state["run_id"],
                step_id,
                error=f"child run {child_id}: {child_status}",
                duration_s=took,
                status=child_status,
            )
    if child_status in ("completed", "rejected"):
        return {"cursor": cursor + 1, "ledger": []}
    status: RunStatus = child_status if child_status in CAP_STATUSES else "failed"
    return set_status(
        ctx, state, status, f"child run {child_id} ended {child_status}: {final.get('reason')}", []
    )
