"""Who may decide on a draft, and which drafts a written rule approves without a human."""

from __future__ import annotations

from warden.governance.policy import LoadedPolicy
from warden.schemas.approval import ApprovalDecision
from warden.schemas.policy import AutoApprovalRule
from warden.schemas.runbook import AnalyserStep, RunbookDefinition, WorkflowStep

__all__ = ["analysers_used", "decision_error", "matching_auto_rule"]


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
    held = policy.roles_of(tenant, decision.approver)
    if not held:
        return f"'{decision.approver}' is not a user of tenant '{tenant}'"
    if decision.role not in held:
        return f"'{decision.approver}' does not hold role '{decision.role}' in tenant '{tenant}'"
    if decision.role != required_role:
        return f"this runbook needs approval by role '{required_role}', not '{decision.role}'"
    if decision.approver == requester and not policy.tenant(tenant).approval.allow_self_approval:
        return f"'{requester}' requested this run and may not approve it (the policy forbids self-approval)"
    rules = policy.tenant(tenant).approval
    if rules.require_authenticated and decision.auth == "asserted":
        return (
            f"the policy requires an authenticated approver; '{decision.approver}' was only asserted "
            "(--as): decide through the Warden server signed in, or with an API token"
        )
    if decision.runbook_sha256 != draft_sha256:
        return "the draft changed since it was reviewed (sha256 mismatch); review it again"
    return None


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
    runbook: RunbookDefinition, *, policy: LoadedPolicy, tenant: str, depth: int, cost_estimate_usd: float
) -> AutoApprovalRule | None:
    """The first auto-approval rule the draft satisfies in full; None (a human decides) otherwise.

    A generated child runbook is not covered by its parent's approval: it meets the guard and
    these rules again when it is produced.
    """
    for rule in policy.tenant(tenant).approval.auto_approve:
        if rule.runbooks and runbook.runbook not in rule.runbooks:
            continue
        if not analysers_used(runbook) <= set(rule.analysers):
            continue
        if cost_estimate_usd > rule.max_cost_usd or depth > rule.max_depth:
            continue
        return rule
    return None
