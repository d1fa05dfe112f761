"""What the guard knows besides the runbook: policy, tenant, catalogue, and where in the tree."""

from __future__ import annotations

from dataclasses import dataclass, replace

from warden.catalogue import Catalogue
from warden.governance.policy import LoadedPolicy, tighter
from warden.schemas.runbook import Limits, RunbookDefinition

__all__ = ["GuardContext"]


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
        )
