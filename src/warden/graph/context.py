"""The context LangGraph injects into every node of one invocation (``context_schema``).

It replaces a per-process grab-bag: what a node may use is exactly this, built by the caller
for the run tree it drives, with the policy the tree was requested under.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from warden.catalogue import Catalogue, default_catalogue
from warden.governance.policy import LoadedPolicy
from warden.llm.config import LlmSettings
from warden.store import Store

__all__ = ["RunContext", "StepProgress"]


@dataclass(frozen=True)
class StepProgress:
    """A step about to run: which, of how many, in which run, and how long the tree has run."""

    run_id: str
    depth: int
    number: int
    total: int
    step_id: str
    analyser: str | None
    elapsed_s: float


@dataclass
class RunContext:
    """Store, bound policy, analysers and model settings of one run tree's invocation.

    ``policy`` is the policy the tree was requested under: every guard run, decision and step
    uses it. ``live_policy`` returns the policy in force now; only its kill switch is read, so
    an operator can stop running trees whatever policy they are bound to. ``chat_model``
    overrides the model the settings would build: a fake in tests, the replaying model in
    ``warden replay`` (``replaying=True``: calls cost nothing).
    """

    store: Store
    policy: LoadedPolicy
    catalogue: Catalogue = field(default_factory=default_catalogue)
    llm_settings: LlmSettings = field(default_factory=LlmSettings)
    chat_model: Any = None
    replaying: bool = False
    live_policy: Callable[[], LoadedPolicy] | None = None
    child_graph: Any = None
    """The compiled graph a step runs a child runbook in (set by the engine that compiles both)."""
    on_step: Callable[[StepProgress], None] | None = None
    """Told as each step starts: the entry point shows progress with it (or nothing, piped)."""
    escalate: Callable[[str], dict[str, Any] | None] | None = None
    """run id -> that run's overdue approval escalated now (the service's own SLA escalation:
    ledger row, audit event, notice; once, however many callers), or None when not due. Given
    by a worker's service so the Temporal engine's SLA timer escalates as the server loop does."""
    memo: dict[Any, Any] = field(default_factory=dict)
    """What the nodes of this invocation read once and reuse: validated runbooks by run and
    hash, each run's step gate, the live kill switch while the store is unchanged
    (``Store.generation``), the bound policy's resolved roots."""

    @property
    def llm_model(self) -> str | None:
        return self.llm_settings.model

    def allowed_roots(self, tenant: str) -> tuple[Path, ...]:
        """The bound policy's allowed roots of `tenant`, resolved once per invocation: each
        resolution is system calls per root, and every step's analyser context holds them."""
        key = ("allowed_roots", tenant)
        roots: tuple[Path, ...] | None = self.memo.get(key)
        if roots is None:
            roots = self.memo[key] = tuple(self.policy.allowed_roots(tenant))
        return roots

    def kill_switch_reason(self, tenant: str) -> str | None:
        """Why runs of `tenant` must stop now: the bound policy's switch or the one in force."""
        reason = self.policy.kill_switch_reason(tenant)
        if reason is None and self.live_policy is not None:
            # the policy in force only changes with a write to the store: while it has not
            # changed (same generation, the file held all along) the last reading stands
            generation = self.store.generation()
            cached = self.memo.get(("live_policy",))
            if generation is not None and cached is not None and cached[0] == generation:
                live = cached[1]
            else:
                live = self.live_policy()
                if generation is not None:
                    self.memo[("live_policy",)] = (generation, live)
            if tenant in live.policy.tenants:
                reason = live.kill_switch_reason(tenant)
            elif live.policy.kill_switch.engaged:
                reason = live.policy.kill_switch.reason or "kill switch engaged"
        return reason
