"""What the guard knows besides the runbook: policy, tenant, catalogue, and where in the tree."""

from __future__ import annotations

from dataclasses import dataclass, replace

from warden.catalogue import Catalogue
from warden.governance.policy import LoadedPolicy, tighter
from warden.schemas.runbook import Limits, RunbookDefinition, WorkflowStep

__all__ = ["GuardContext", "step_caps"]


def step_caps(step: WorkflowStep, elapsed_s: float = 0.0) -> Limits:
    """The caps an ``execute_workflow`` step sets its child: its `limits`, and its `timeout_s`
    as the child's time cap. The time cap counts the tree's analyser seconds, so the child's
    is `elapsed_s` (the tree's when the child starts; 0 when validating) plus the timeout:
    a timeout the approver read on the step bounds the child, as it bounds an analyser step."""
    if step.timeout_s is None:
        return step.limits
    return tighter(step.limits, Limits(max_duration_s=elapsed_s + step.timeout_s))


@dataclass(frozen=True)
class GuardContext:
    """Inputs of every check. ``policy=None`` runs the structural checks only."""

    catalogue: Catalogue
    policy: LoadedPolicy | None = None
    tenant: str | None = None
    depth: int = 0
    parent_limits: Limits | None = None
    llm_model: str | None = None
    spent_usd: float = 0.0
    path: str = ""
    kill_switch: str | None = None
    """The reason of a kill switch in force that `policy` (the policy a run is bound to) does
    not carry: set by the decision path, which must see the switch an admin engaged since."""
    parent_role: str | None = None
    """At depth > 0: the role that approves the parent run, and so this child (a child runs on
    its parent's approval chain: the approval node asks that role whatever the child names)."""
    ancestor_runbooks: tuple[str, ...] = ()
    """At depth > 0: the names of the runbooks the runs above this one run under, root first;
    a child under one of these names cannot be approved (it would be published as a version
    of that runbook)."""

    def caps(self) -> Limits:
        """The caps a runbook here must stay within: policy (global, tenant) and the parent's."""
        sources = [self.parent_limits] if self.parent_limits else []
        if self.policy is not None and self.tenant is not None:
            sources.append(self.policy.effective_limits(self.tenant))
        return tighter(*sources) if sources else Limits()

    def effective_limits(self, runbook: RunbookDefinition) -> Limits:
        """The caps that bind this runbook: its own, tightened by :meth:`caps`."""
        return tighter(self.caps(), runbook.limits)

    def child(self, runbook: RunbookDefinition, step_limits: Limits, path: str) -> GuardContext:
        """The context of an inline child runbook one level down."""
        return replace(
            self,
            depth=self.depth + 1,
            parent_limits=tighter(self.effective_limits(runbook), step_limits),
            path=path,
            parent_role=self.approval_role(runbook),
            ancestor_runbooks=(*self.ancestor_runbooks, runbook.runbook),
        )

    def approval_role(self, runbook: RunbookDefinition) -> str | None:
        """The role that approves `runbook` here: its parent's at depth > 0, else its own."""
        if self.depth > 0 and self.parent_role is not None:
            return self.parent_role
        return runbook.approval.required_role if runbook.approval else None
