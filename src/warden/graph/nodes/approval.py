"""approval: pause through a LangGraph interrupt until a human with the right role decides.

Everything before ``interrupt()`` re-runs when the run is resumed, so it only reads. The
decision is checked again here (the CLI checks it first): a decision that may not be taken is
audited and the run keeps waiting.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from langgraph.types import interrupt
from pydantic import ValidationError

from warden.governance.approval_rules import decision_error, edit_identity_error, matching_auto_rule
from warden.governance.notifications import deliveries
from warden.governance.policy import LoadedPolicy, load_policy_text
from warden.graph.context import RunContext
from warden.graph.nodes._common import event, record, runbook_model, runbook_sha256, set_status
from warden.graph.nodes.guard import guard_context
from warden.graph.order import execution_order
from warden.graph.state import RunState, StateUpdate
from warden.guard import validate
from warden.llm_config import model_configuration
from warden.runbooks.diff import change_summary, diff_runbooks
from warden.schemas.approval import ApprovalDecision
from warden.schemas.policy import AutoApprovalRule
from warden.schemas.runbook import RunbookDefinition
from warden.store import approval_queue, approvals, ledger, notifications, policies, runs

__all__ = [
    "approval",
    "approval_payload",
    "approval_role",
    "decided_by_policy",
    "open_approval",
    "published_as_ancestor",
    "take_decision",
]


def approval_role(state: RunState, runbook: RunbookDefinition) -> str:
    """The role that approves the run: at depth > 0 its parent's (carried in the state by the
    step that started it), whatever role the child names; else the runbook's own. A child runs
    on its parent's approval chain, and a planner's draft may not pick a weaker approver."""
    inherited = state.get("parent_role") if state.get("depth", 0) > 0 else None
    if inherited:
        return inherited
    assert runbook.approval is not None  # the guard refuses runbooks without one
    return runbook.approval.required_role


def published_as_ancestor(state: RunState, runbook: RunbookDefinition) -> str | None:
    """Why the draft may not be approved when it runs under the name of a runbook above it in
    its tree (approving publishes it as a version of that runbook); None when it may."""
    if state.get("depth", 0) > 0 and runbook.runbook in (state.get("ancestor_runbooks") or ()):
        return (
            f"this child runbook is named '{runbook.runbook}', as a runbook above it in its tree: "
            "approving it would publish it as a version of that runbook; reject it"
        )
    return None


def approval_payload(state: RunState, ctx: RunContext, runbook: RunbookDefinition) -> dict[str, Any]:
    """What the approver reviews: draft (`runbook`, the state's as a model), report, cost
    estimate, diff, requester, required role."""
    last: dict[str, Any] | None = None
    if published_as_ancestor(state, runbook) is None:  # else not a version of that runbook: no diff
        with ctx.store.connect(read_only=True) as con:
            last = approvals.last_approved(con, state["tenant"], runbook.runbook)
    previous: RunbookDefinition | None = None
    if last is not None and last["sha256"] == state.get("runbook_sha256"):
        previous = runbook  # the draft is the version approved last (same content hash): no parse
        # its version exists (never deleted): publishing it again needs no read (see _apply)
        ctx.memo[("published", state["tenant"], runbook.runbook, last["sha256"])] = int(last["version_no"])
    elif last is not None:
        previous = RunbookDefinition.model_validate(last["definition"])
    report = state.get("report") or {}
    return {
        "kind": "approval",
        "run_id": state["run_id"],
        "root_run_id": state["root_run_id"],
        "depth": state.get("depth", 0),
        "tenant": state["tenant"],
        "requester": state["requester"],
        "required_role": approval_role(state, runbook),
        "runbook": runbook.model_dump(mode="json"),
        "runbook_sha256": state["runbook_sha256"],
        "report": report,
        "cost_estimate_usd": report.get("cost_estimate_usd", 0.0),
        "previous_version": last["version_no"] if last else None,
        "diff": diff_runbooks(previous, runbook),
        "change_summary": change_summary(previous, runbook),
        # the caps the parent set: an edited runbook is validated against them before it is sent
        "parent_limits": state.get("parent_limits"),
    }


def open_approval(state: RunState, ctx: RunContext) -> tuple[StateUpdate | None, dict[str, Any]]:
    """(update, payload): the update when a policy rule approves the draft at once (no human
    asked), else None and the payload a human reviews. Reads only (it re-runs on resume)."""
    runbook = runbook_model(ctx, state["runbook"])
    policy = ctx.policy
    required_role = approval_role(state, runbook)
    payload = approval_payload(state, ctx, runbook)
    rule = _auto_rule(state, ctx, runbook)
    draft_sha256 = state.get("runbook_sha256")
    assert draft_sha256 is not None  # plan set it: the guard refused drafts that do not parse
    if rule is None:
        return None, payload
    auto = ApprovalDecision(
        decision="approve",
        approver=f"auto:{rule.name}",
        role=required_role,
        runbook_sha256=draft_sha256,
        auto_rule=rule.name,
        comment=f"approved by the policy's auto-approval rule '{rule.name}'",
        auth="policy",
    )
    applied = _apply(state, ctx, runbook, auto, payload, state.get("report") or {}, policy)
    if isinstance(applied, str):  # a kill switch engaged since the guard: a human decides, once released
        return None, payload
    return applied, payload


def decided_by_policy(state: RunState, ctx: RunContext) -> bool:
    """Whether a policy rule approves the draft at once: :func:`approval` then returns without
    an interrupt, so the graph may run it in the superstep that guarded the draft. Reads only."""
    return _auto_rule(state, ctx, runbook_model(ctx, state["runbook"])) is not None


def _auto_rule(state: RunState, ctx: RunContext, runbook: RunbookDefinition) -> AutoApprovalRule | None:
    """The policy's auto-approval rule matching the draft (its cost as the guard estimated it)."""
    if published_as_ancestor(state, runbook) is not None:
        return None  # no approval of it is taken: a human sees why, and rejects it
    report = state.get("report") or {}
    return matching_auto_rule(
        runbook,
        policy=ctx.policy,
        tenant=state["tenant"],
        depth=state.get("depth", 0),
        cost_estimate_usd=report.get("cost_estimate_usd", 0.0),
        model_steps=report.get("model_steps") or (),
    )


def take_decision(
    state: RunState,
    ctx: RunContext,
    payload: dict[str, Any],
    raw: Any,
    attempt: int,
    *,
    refused: str | None = None,
) -> tuple[StateUpdate | None, str | None]:
    """(update, None) when the decision `raw` is taken; (None, why) when it may not be (audited
    as ``approval_refused``: the run keeps waiting). `refused`: why the entry point that carried
    the decision already refuses it (a Temporal decision without a service's signature). An
    engaged kill switch refuses every decision here too, whoever carried it."""
    kill_switch = ctx.kill_switch_reason(state["tenant"])
    if refused is None and kill_switch:
        refused = f"kill switch engaged for tenant '{state['tenant']}': {kill_switch}"
    if refused is not None:
        return None, _refuse(state, ctx, raw, attempt, refused)
    runbook = runbook_model(ctx, state["runbook"])
    policy = ctx.policy
    draft_sha256 = state.get("runbook_sha256")
    assert draft_sha256 is not None
    report = state.get("report") or {}
    decision: ApprovalDecision | None
    try:
        decision = ApprovalDecision.model_validate(raw)
        error = decision_error(
            decision,
            policy=policy,
            tenant=state["tenant"],
            requester=state["requester"],
            required_role=approval_role(state, runbook),
            draft_sha256=draft_sha256,
        )
        if error is None and decision.decision != "reject":
            error = published_as_ancestor(state, runbook)
    except ValidationError as exc:
        decision, error = None, f"malformed decision: {exc.errors()[0]['msg']}"
    if decision is not None and error is None and decision.decision == "edit":
        edited = decision.edited_runbook
        assert edited is not None
        edited_report = validate(edited, guard_context(state, ctx))
        report = edited_report.model_dump(mode="json")
        if not edited_report.ok:
            codes = sorted({i.code for i in edited_report.issues if i.severity == "error"})
            error = f"the edited runbook fails the guard: {', '.join(codes)}"
        else:
            error = edit_identity_error(runbook, edited)
    if error is None and decision is not None:
        applied = _apply(state, ctx, runbook, decision, payload, report, policy)
        if not isinstance(applied, str):
            return applied, None
        error = applied
    assert error is not None
    return None, _refuse(state, ctx, decision if decision is not None else raw, attempt, error)


def _refuse(state: RunState, ctx: RunContext, decision: Any, attempt: int, error: str) -> str:
    """Audit a refused decision (``approval_refused``, once per attempt); the run keeps waiting."""
    approver = decision.get("approver") if isinstance(decision, dict) else getattr(decision, "approver", None)
    with ctx.store.connect() as con:
        record(
            con,
            state,
            "approval_refused",
            actor=str(approver or "unknown")[:200],
            payload={"reason": error},
            key=f"{state['run_id']}:approval_refused:{attempt}",
        )
    return error


def approval(state: RunState, ctx: RunContext) -> StateUpdate:
    update, payload = open_approval(state, ctx)
    if update is not None:
        return update
    if state.get("ledger"):  # nothing of the run waits for a human unwritten (graph/ledger.py)
        with ctx.store.connect() as con:
            ledger.flush(con, state.get("ledger") or [])
    attempt = 0
    while True:
        raw = interrupt(payload)
        attempt += 1
        taken, _ = take_decision(state, ctx, payload, raw, attempt)
        if taken is not None:
            return taken


def _apply(
    state: RunState,
    ctx: RunContext,
    draft: RunbookDefinition,
    decision: ApprovalDecision,
    payload: dict[str, Any],
    report: dict[str, Any],
    policy: LoadedPolicy,
) -> StateUpdate | str:
    """Record the decision under the policy it was checked against, and publish the version;
    why not (nothing written) when the kill switch in force is engaged as it commits."""
    final = decision.edited_runbook if decision.decision == "edit" else draft
    assert final is not None
    sha = runbook_sha256(ctx, final)
    approval_id = hashlib.sha256(f"{state['run_id']}\x1f{decision.decision}\x1f{sha}".encode()).hexdigest()[
        :24
    ]
    summary = (
        payload["change_summary"]
        if decision.decision != "edit"
        else "edited by approver; " + change_summary(draft, final)
    )
    try:
        with ctx.store.connect() as con:
            version_no = None
            if decision.decision != "reject":
                version_no = approvals.publish_version(
                    con,
                    tenant=state["tenant"],
                    runbook=final.runbook,
                    sha256=sha,
                    declared_version=final.version,
                    definition=final.model_dump(mode="json"),
                    run_id=state["run_id"],
                    approved_by=decision.approver,
                    known_version=ctx.memo.get(("published", state["tenant"], final.runbook, sha)),
                )
            _refuse_if_switched_off(con, state, ctx)
            approvals.record_approval(
                con,
                approval_id=approval_id,
                run_id=state["run_id"],
                root_run_id=state["root_run_id"],
                tenant=state["tenant"],
                decision=decision.decision,
                approver=decision.approver,
                role=decision.role,
                auto_rule=decision.auto_rule,
                auth=decision.auth,
                runbook=final.runbook,
                runbook_version=version_no,
                runbook_sha256=sha,
                policy_sha256=policy.sha256,
                comment=decision.comment,
                change_summary=summary,
                validation_ok=bool(report.get("ok", True)),
                validation=report,
                model=final.model.model_dump(mode="json") if final.model else None,
            )
            # the run's pending records, then the decision's event (chained after them), in one flush
            decided = event(
                state,
                f"approval:{decision.decision}",
                actor=decision.approver,
                payload={
                    "role": decision.role,
                    "auth": decision.auth,
                    "comment": decision.comment,
                    "runbook_sha256": sha,
                    "version": version_no,
                    "auto_rule": decision.auto_rule,
                    "policy_sha256": policy.sha256,
                    # enough for an audit export to stand alone: what was approved and what changed
                    "runbook": final.runbook,
                    "declared_version": final.version,
                    "model": final.model.model_dump(mode="json") if final.model else None,
                    # this process executes the steps once approved: its model configuration applies
                    "executed_with": model_configuration(
                        ctx.llm_model, ctx.llm_settings.base_url if ctx.llm_settings else None
                    ),
                    "validation_ok": bool(report.get("ok", True)),
                    "checks": {c["name"]: c["status"] for c in report.get("checks", [])},
                    "previous_version": payload["previous_version"],
                    "change_summary": summary,
                    "diff": payload["diff"],
                    "edit_diff": diff_runbooks(draft, final) if decision.decision == "edit" else None,
                },
            )
            pending = state.get("ledger") or []
            ledger.flush(con, [*pending, decided])
            if decision.decision != "reject" and not _drafted_as(
                pending, state["run_id"], sha, final.version
            ):
                runs.record_approved_runbook(con, state["run_id"], sha256=sha, version=final.version)
            # the inbox row closes with the decision; the requester hears of it through the outbox,
            # never blocking the decision. Both only for a human decision: a draft a rule approves
            # never waited (the bound policy's rules decide it the same way each time the node runs)
            if decision.auto_rule is None:
                approval_queue.close(con, state["run_id"], decision.decision, by=decision.approver)
                notifications.enqueue(
                    con,
                    deliveries(
                        policy,
                        tenant=state["tenant"],
                        event="decision",
                        key=f"{state['run_id']}:decision:{decision.decision}:{sha}",
                        users=[state["requester"]],
                        run_id=state["run_id"],
                        root_run_id=state["root_run_id"],
                        payload={
                            "root_run_id": state["root_run_id"],
                            "runbook": final.runbook,
                            "runbook_sha256": sha,
                            "requester": state["requester"],
                            "decision": decision.decision,
                            "approver": decision.approver,
                            "role": decision.role,
                            "comment": decision.comment,
                            "version": version_no,
                        },
                    ),
                )
    except _SwitchedOff as off:
        return str(off)
    if decision.decision == "reject":
        return set_status(ctx, state, "rejected", f"rejected by {decision.approver}: {decision.comment}", [])
    # an approved draft is the state's runbook as it stands (its dict and model are reused)
    runbook = state["runbook"] if final is draft else final.model_dump(mode="json")
    runbook_model(ctx, runbook, final)
    update: dict[str, Any] = {
        "ledger": [],
        "runbook": runbook,
        "runbook_sha256": sha,
        "report": report,
    }
    if decision.decision == "edit":
        update["order"] = execution_order(final)
        update["limits"] = guard_context(state, ctx).effective_limits(final).model_dump(mode="json")
        update["cursor"] = 0
    return update


def _drafted_as(records: list[dict[str, Any]], run_id: str, sha256: str, version: int) -> bool:
    """Whether the flush just made recorded the run's draft with this hash and version (plan's
    record, pending until the decision): the approved version's own update would set the same
    values again, one statement for nothing."""
    return any(
        r["t"] == "drafted" and r["run_id"] == run_id and r["sha256"] == sha256 and r["version"] == version
        for r in records
    )


class _SwitchedOff(Exception):
    """The kill switch in force is engaged: the decision's transaction rolls back."""


def _refuse_if_switched_off(con: Any, state: RunState, ctx: RunContext) -> None:
    """Raise :class:`_SwitchedOff` when the policy in force as last committed engages the run's
    tenant's kill switch. Read under the policy lock in shared mode, held until this
    transaction commits: a switch engaged after this reading commits after the decision, and
    one engaged before it (after take_decision's check, while this transaction waited) is seen."""
    row = policies.policy_in_force_locked(con, exclusive=False)
    if row is None:
        return
    key = ("policy", row["sha256"])  # parsed once per invocation (versions are immutable)
    live: LoadedPolicy | None = ctx.policy if row["sha256"] == ctx.policy.sha256 else ctx.memo.get(key)
    if live is None:
        live = ctx.memo[key] = load_policy_text(row["text"], Path(row["source"]))
    tenant = state["tenant"]
    if tenant in live.policy.tenants:
        reason = live.kill_switch_reason(tenant)
    else:  # a tenant the policy in force no longer names: only the global switch applies
        reason = (
            (live.policy.kill_switch.reason or "kill switch engaged")
            if live.policy.kill_switch.engaged
            else None
        )
    if reason:
        raise _SwitchedOff(f"kill switch engaged for tenant '{tenant}': {reason}")
