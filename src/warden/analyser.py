"""The contract between the executor and an analyser's code.

An analyser is a function ``run(inputs, config, ctx) -> dict``: ``inputs`` maps each input
name of its step to the producer's output (JSON-mode data), ``config`` is the step's validated
config, and ``ctx`` tells it where it runs. Whatever it returns is stored as the step's output;
a ``findings`` list in it is also stored as findings. Analysers never touch the store or the
graph, so they are testable with plain data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from warden.schemas.policy import System

if TYPE_CHECKING:
    from warden.llm.session import LlmSession

__all__ = ["AnalyserContext", "BudgetProbe", "CostRecorder"]

CostRecorder = Callable[..., None]

BudgetProbe = Callable[[], float | None]
"""USD left under the run tree's cost cap (read fresh each time); None when uncapped."""


def _no_cost(**_: Any) -> None:
    return None


def _no_cap() -> float | None:
    return None


@dataclass(frozen=True)
class AnalyserContext:
    """Where an analyser runs: the tenant, its systems and roots, and the run it serves.

    ``llm`` is the seam to the configured model (None when offline, or when the tenant may
    not use the model); ``budget_usd`` says how much the tree may still spend;
    ``planner_mode`` is the configured default of ``policy_to_runbook``'s ``planner``.
    """

    tenant: str
    run_id: str
    step_id: str
    depth: int = 0
    system_id: str | None = None
    systems: tuple[System, ...] = ()
    base_dir: Path = field(default_factory=Path.cwd)
    allowed_roots: tuple[Path, ...] = ()
    available_analysers: tuple[str, ...] = ()
    llm_model: str | None = None
    approval_role: str | None = None
    record_cost: CostRecorder = _no_cost
    llm: LlmSession | None = None
    budget_usd: BudgetProbe = _no_cap
    planner_mode: str = "auto"

    def system(self, system_id: str | None = None) -> System | None:
        """A system of the tenant by id; with no id, the system the step targets (``system:``)."""
        wanted = system_id or self.system_id
        return next((s for s in self.systems if s.id == wanted), None)
