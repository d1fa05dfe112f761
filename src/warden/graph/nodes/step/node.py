"""The step node: the checks before a step, then an analyser run or a child run requested."""

from __future__ import annotations

from warden.graph.context import RunContext, StepProgress
from warden.graph.ledger import pending as ledger_of
from warden.graph.nodes.step.analyser import run_analyser
from warden.graph.nodes.step.child import ChildRequest, child_ended, run_child
from warden.graph.nodes.step.gate import approved_model, read_gate, stop, would_pass_cost_cap
from warden.graph.state import RunState, StateUpdate
from warden.schemas.runbook import AnalyserStep
from warden.store import steps

__all__ = ["advance", "step"]


def step(state: RunState, ctx: RunContext) -> StateUpdate:
    out = advance(state, ctx)
    if isinstance(out, ChildRequest):
        final = ctx.child_graph.invoke(out.state)  # a pending approval inside raises to the top
        return child_ended(state, ctx, out, final)
    return out


def advance(state: RunState, ctx: RunContext) -> StateUpdate | ChildRequest:
    """The step node up to a child run: checks, then an analyser run, or a child requested."""
    runbook, sha256, limits = approved_model(ctx, state)
    cursor = state.get("cursor", 0)
    current = next(s for s in runbook.steps if s.id == state["order"][cursor])
    pending = ledger_of(state)
    reason = ctx.kill_switch_reason(state["tenant"])
    if reason:
        return stop(ctx, state, current, "cancelled", f"kill switch: {reason}")
    gate, pending = read_gate(ctx, state, runbook, sha256, pending)
    status, attempts = gate.steps.get(current.id, (None, 0))
    spent = gate.spent_usd
    # steps of this run whose records are still pending count against the time cap too
    elapsed = gate.elapsed_s + sum(
        r["duration_s"] or 0.0 for r in pending if r["t"] == "step" and r["kind"] == "analyser"
    )
    if not gate.approved or sha256 != state.get("runbook_sha256"):
        return stop(ctx, state, current, "failed", "refusing to run: the runbook is not an approved version")
    if status in ("completed", "rejected"):
        return {"cursor": cursor + 1, "ledger": pending}
    if isinstance(current, AnalyserStep):
        manifest = ctx.catalogue.get(current.analyser)
        estimate = manifest.cost_estimate_usd if manifest else 0.0
        left = limits.max_cost_usd - spent if limits.max_cost_usd is not None else None
        if would_pass_cost_cap(estimate, left):
            return stop(
                ctx,
                state,
                current,
                "budget_exceeded",
                f"step '{current.id}' (est. ${estimate:.4f}) would pass the cap of "
                f"${limits.max_cost_usd:.4f} (spent ${spent:.4f})",
                pending,
            )
    if limits.max_duration_s is not None and elapsed >= limits.max_duration_s:
        return stop(
            ctx,
            state,
            current,
            "timed_out",
            f"the run tree has used {elapsed:.1f}s of its {limits.max_duration_s:g}s",
            pending,
        )
    if ctx.on_step is not None:
        ctx.on_step(
            StepProgress(
                run_id=state["run_id"],
                depth=state.get("depth", 0),
                number=cursor + 1,
                total=len(state["order"]),
                step_id=current.id,
                analyser=current.analyser if isinstance(current, AnalyserStep) else None,
                elapsed_s=elapsed,
            )
        )
    if isinstance(current, AnalyserStep):
        carried = 0.0
        if status == "running":  # an attempt whose process died: its heartbeat time is kept
            with ctx.store.connect(read_only=True) as con:
                dead = steps.get_step(con, state["run_id"], current.id)
            carried = float((dead or {}).get("duration_s") or 0.0)
        return run_analyser(state, ctx, runbook, current, limits, elapsed, cursor, pending, attempts, carried)
    return run_child(state, ctx, runbook, current, limits, cursor, status is not None, pending, attempts)
