"""guard: every runbook, root or generated, is validated before anyone is asked to approve it."""

from __future__ import annotations

from collections.abc import Collection

from warden.graph.context import RunContext
from warden.graph.ledger import pending, tagged
from warden.graph.nodes._common import runbook_model, set_status
from warden.graph.order import execution_order
from warden.graph.state import RunState, StateUpdate
from warden.guard import GuardContext, validate_data
from warden.safeload import Parsed
from warden.schemas.runbook import Limits
from warden.schemas.status import RunStatus
from warden.store import costs, ledger

__all__ = ["guard", "guard_context", "refusal_status"]


def guard_context(state: RunState, ctx: RunContext, *, live_kill_switch: bool = False) -> GuardContext:
    """The guard's inputs for a run. `live_kill_switch`: the guard also sees the kill switch in
    force, not only the bound policy's (a decision on a waiting run; the guard node checks the
    live switch itself after a passing report, so its refusal keeps the switch's reason)."""
    with ctx.store.connect(read_only=True) as con:
        spent = costs.tree_cost(con, state["root_run_id"])
    parent = state.get("parent_limits")
    return GuardContext(
        catalogue=ctx.catalogue,
        policy=ctx.policy,
        tenant=state["tenant"],
        depth=state.get("depth", 0),
        parent_limits=Limits.model_validate(parent) if parent else None,
        llm_model=ctx.llm_model,
        spent_usd=spent,
        kill_switch=ctx.kill_switch_reason(state["tenant"]) if live_kill_switch else None,
        parent_role=state.get("parent_role"),
        ancestor_runbooks=tuple(state.get("ancestor_runbooks") or ()),
    )


def refusal_status(codes: Collection[str]) -> RunStatus:
    """A refusal caused by a cap carries that cap's status; anything else is a rejection."""
    caps: tuple[tuple[str, RunStatus], ...] = (
        ("kill_switch", "cancelled"),
        ("depth_limit", "depth_exceeded"),
        ("cost_limit", "budget_exceeded"),
        ("duration_limit", "timed_out"),
    )
    for code, status in caps:
        if code in codes:
            return status
    return "rejected"


def guard(state: RunState, ctx: RunContext) -> StateUpdate:
    gctx = guard_context(state, ctx)
    report = validate_data(Parsed(data=state.get("runbook"), source=f"run {state['run_id']}"), gctx)
    report_json = report.model_dump(mode="json")
    records = [
        *pending(state),
        ledger.audit_record(
            run_id=state["run_id"],
            root_run_id=state["root_run_id"],
            tenant=state["tenant"],
            actor="warden",
            event="guard_report",
            key=f"{state['run_id']}:guard_report",
            payload={
                "ok": report.ok,
                "sha256": report.runbook_sha256,
                "policy_sha256": report.policy_sha256,
                "issues": [{"code": i.code, "path": i.path, "message": i.message} for i in report.issues],
                "checks": {c.name: c.status for c in report.checks},
            },
        ),
    ]
    if not report.ok:
        codes = {i.code for i in report.issues if i.severity == "error"}
        update = set_status(
            ctx,
            state,
            refusal_status(codes),
            "guard refused the runbook: " + ", ".join(sorted(codes)),
            records,
        )
        return {**update, "report": report_json}
    switched_off = ctx.kill_switch_reason(state["tenant"])
    if switched_off:
        update = set_status(ctx, state, "cancelled", f"kill switch: {switched_off}", records)
        return {**update, "report": report_json}
    runbook = runbook_model(ctx, state["runbook"])
    limits = gctx.effective_limits(runbook)
    return {
        "ledger": tagged(records),
        "report": report_json,
        "limits": limits.model_dump(mode="json"),
        "order": execution_order(runbook),
        "cursor": 0,
    }
