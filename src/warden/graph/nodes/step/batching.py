"""Several pure steps in one superstep: when the step just run lets the next run in place,
with one checkpoint for both.
"""

from __future__ import annotations

import time

from warden.graph.context import RunContext
from warden.graph.llm_steps import model_allowed, step_settings
from warden.graph.nodes.step.gate import approved_model
from warden.graph.state import RunState
from warden.schemas.runbook import AnalyserStep, WorkflowStep

__all__ = ["BATCH_CPU_S", "BATCH_WALL_S", "UNKEYED", "goes_on", "starts_in_place", "superstep_clock"]

BATCH_CPU_S = 1.0
"""Process CPU time after which a superstep runs no further step in place (see :func:`goes_on`):
about the most pure work a kill makes the resume do again. CPU, not wall time, so a loaded host
batches the same steps as a quiet one."""


BATCH_WALL_S = 5.0
"""Wall time after which a superstep runs no further step in place, whatever its CPU (a step
waiting on a slow read)."""


UNKEYED = "unkeyed_write"
"""Memo key (with the run id) set when a step wrote a row that running it again would write
twice (a cost entry, a model call): such a step ends its superstep."""


def superstep_clock() -> tuple[float, float]:
    """When a superstep started, for :func:`goes_on`: (process CPU, wall) time."""
    return time.process_time(), time.perf_counter()


def goes_on(state: RunState, ctx: RunContext, done: int, started: tuple[float, float]) -> str | None:
    """What the superstep that has just run the step at `done` (its cursor before it ran) may run
    next in place, with one checkpoint for all: ``"step"`` (the next step), ``"finish"`` (the
    run's end, after its last step), or None (the superstep ends here); `started` is when the
    superstep started (:func:`superstep_clock`).

    A kill in what runs next re-runs this step too, from the checkpoint before both, so this
    step must be pure: an analyser step that calls no model (its analyser never does, or no
    model is configured or allowed for the tenant), has no cost estimate, recorded no cost and
    wrote nothing else outside the checkpointed ledger (its records ride in the state; a flush
    of them by a later step's gate or by finish is keyed, the gate skips a step the store has
    completed, and finish's writes are idempotent); or a child run's step that moved the cursor
    on (its child completed or was rejected, and its end was committed before it returned: run
    again, the gate skips it without touching the child). And the superstep so far ran under
    :data:`BATCH_CPU_S` of CPU and :data:`BATCH_WALL_S` of wall time. A next step must
    be an analyser step (a child run starts its nested graph in a superstep of its own), and
    the run still running."""
    if (state.get("status") or "running") != "running":
        return None
    if time.process_time() - started[0] >= BATCH_CPU_S or time.perf_counter() - started[1] >= BATCH_WALL_S:
        return None
    order = state.get("order") or []
    cursor = state.get("cursor", 0)
    if cursor != done + 1 or cursor > len(order) or ctx.memo.get((UNKEYED, state["run_id"])):
        return None
    runbook, _, _ = approved_model(ctx, state)
    by_id = {s.id: s for s in runbook.steps}
    previous = by_id.get(order[done])
    if isinstance(previous, AnalyserStep):
        manifest = ctx.catalogue.get(previous.analyser)
        if manifest is None or manifest.cost_estimate_usd:
            return None
        if manifest.uses_llm != "never":
            settings = step_settings(ctx, runbook.model)
            if settings is not None and model_allowed(ctx, state["tenant"], settings.model):
                return None
    elif not isinstance(previous, WorkflowStep):
        return None
    if cursor == len(order):
        return "finish"
    return "step" if isinstance(by_id.get(order[cursor]), AnalyserStep) else None


def starts_in_place(state: RunState, ctx: RunContext) -> bool:
    """Whether the superstep that has just approved the run (prepare: plan, guard and a policy
    rule's approval, none of which calls a model or writes anything but keyed rows) may run its
    first step in place: the run is running and that step is an analyser step."""
    if (state.get("status") or "running") != "running":
        return False
    order = state.get("order") or []
    cursor = state.get("cursor", 0)
    if cursor >= len(order):
        return False
    runbook, _, _ = approved_model(ctx, state)
    return any(s.id == order[cursor] and isinstance(s, AnalyserStep) for s in runbook.steps)
