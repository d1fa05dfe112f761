"""Who may decide on a draft, and which drafts a written rule approves without a human."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from warden.governance.policy import LoadedPolicy
from warden.schemas.approval import ApprovalDecision
from warden.schemas.policy import AutoApprovalRule
from warden.schemas.runbook import AnalyserStep, RunbookDefinition, WorkflowStep

__all__ = [
    "analysers_used",
    "approval_gate",
    "decision_error",
    "edit_identity_error",
    "gate_error",
    "matching_auto_rule",
]


def approval_gate(
    policy: LoadedPolicy, *, tenant: str, requester: str, required_role: str, draft_sha256: str
) -> dict[str, object]:
    """What deciding on one draft requires under `policy`, as plain data: a Temporal workflow's
    update validator checks decisions against it without reading the store."""
    member = policy.policy.tenants.get(tenant)
    rules = member.approval if member is not None else None
    return {
        "tenant": tenant,
        "policy_sha256": policy.sha256,
        "requester": requester,
        "required_role": required_role,
        "draft_sha256": draft_sha256,
        "roles": {user: list(found.roles) for user, found in member.users.items()} if member else {},
        "allow_self_approval": bool(rules and rules.allow_self_approval),
        "require_authenticated": bool(rules and rules.require_authenticated),
    }


def gate_error(
    gate: dict[str, Any], *, approver: str, role: str, auth: str, runbook_sha256: str
) -> str | None:
    """Why a decision may not be taken under an :func:`approval_gate`, or None when it may."""
    tenant, requester, required_role = gate["tenant"], gate["requester"], gate["required_role"]
    held = gate["roles"].get(approver) or []
    if not held:
        return f"'{approver}' is not a user of tenant '{tenant}'"
    if role not in held:
        return f"'{approver}' does not hold role '{role}' in tenant '{tenant}'"
    if role != required_role:
        return f"this runbook needs approval by role '{required_role}', not '{role}'"
    if approver == requester and not gate["allow_self_approval"]:
        return f"'{requester}' requested this run and may not approve it (the policy forbids self-approval)"
    if gate["require_authenticated"] and auth == "asserted":
        return (
            f"the policy requires an authenticated approver; '{approver}' was only asserted "
            "(--as): decide through the Warden server signed in, or with an API token"
        )
    if runbook_sha256 != gate["draft_sha256"]:
        return "the draft changed since it was reviewed (sha256 mismatch); review it again"
    return None


def decision_error(
    decision: ApprovalDecision,
    *,
    policy: LoadedPolicy,
    tenant: str,
    requester: str,
    required_role: str,
    draft_sha256: str,
) -> str | None:
    """Why this decision may not be taken, or None when it may."""
    gate = approval_gate(
        policy, tenant=tenant, requester=requester, required_role=required_role, draft_sha256=draft_sha256
    )
    return gate_error(
        gate,
        approver=decision.approver,
        role=decision.role,
        auth=decision.auth,
        runbook_sha256=decision.runbook_sha256,
    )


def edit_identity_error(draft: RunbookDefinition, edited: RunbookDefinition) -> str | None:
    """Why an edit may not be taken for who it claims to be: an edit changes what the draft under
    review does (steps, caps; its declared version), never which runbook or tenant it is, or it
    would be published as an approved version of a runbook nobody requested."""
    changed = [
        f"{field} '{getattr(draft, field)}' -> '{getattr(edited, field)}'"
        for field in ("runbook", "tenant")
        if getattr(draft, field) != getattr(edited, field)
    ]
    if not changed:
        return None
    return "an edit may not change which runbook it is (" + ", ".join(changed) + ")"


def analysers_used(runbook: RunbookDefinition) -> set[str]:
    """Analysers of the runbook and of its inline children."""
    used: set[str] = set()
    for step in runbook.steps:
        if isinstance(step, AnalyserStep):
            used.add(step.analyser)
        elif isinstance(step, WorkflowStep) and isinstance(step.execute_workflow, RunbookDefinition):
            used |= analysers_used(step.execute_workflow)
    return used


def matching_auto_rule(
    runbook: RunbookDefinition,
    *,
    policy: LoadedPolicy,
    tenant: str,
    depth: int,
    cost_estimate_usd: float,
    model_steps: Sequence[str] = (),
) -> AutoApprovalRule | None:
    """The first auto-approval rule the draft satisfies in full; None (a human decides) otherwise.

    A generated child runbook is not covered by its parent's approval: it meets the guard and
    these rules again when it is produced. A draft with `model_steps` (steps that may call a
    model, as the guard found them) matches only a rule that allows model calls.
    """
    for rule in policy.tenant(tenant).approval.auto_approve:
        if rule.runbooks and runbook.runbook not in rule.runbooks:
            continue
        if not analysers_used(runbook) <= set(rule.analysers):
            continue
        if cost_estimate_usd > rule.max_cost_usd or depth > rule.max_depth:
            continue
        if model_steps and not rule.model_calls:
            continue
        return rule
    return None
