"""Entry point of ``policy_to_runbook``: a labelled notice in, a draft runbook out."""

from __future__ import annotations

from typing import Any

from warden_analysers.policy_to_runbook.planner import draft_runbook

from warden.analyser import AnalyserContext
from warden.errors import LoadError

__all__ = ["planner_for", "run"]

PLANNERS = ("offline", "llm", "auto")


def planner_for(config: dict[str, Any], ctx: AnalyserContext) -> str:
    """``offline`` or ``llm``: the step's ``planner``, else the configured default; ``auto``
    plans with the model when the step has one (configured, and allowed for the tenant)."""
    mode = config.get("planner") or ctx.planner_mode
    if mode not in PLANNERS:
        raise LoadError(f"planner must be one of {', '.join(PLANNERS)}, not '{mode}'", code="bad_config")
    if mode == "auto":
        return "llm" if ctx.llm is not None else "offline"
    return str(mode)


def run(inputs: dict[str, Any], config: dict[str, Any], ctx: AnalyserContext) -> dict[str, Any]:
    """The offline planner by default; the LLM planner when ``planner`` resolves to llm."""
    labelled = next(
        (v for v in inputs.values() if isinstance(v, dict) and "passages" in v and "document_id" in v), None
    )
    if labelled is None:
        labelled = next((v for v in inputs.values() if isinstance(v, dict) and "passages" in v), None)
    if labelled is None:
        raise LoadError("policy_to_runbook needs labelled passages as input", code="bad_input")
    max_steps = int(config.get("max_steps", 50))
    if planner_for(config, ctx) == "llm":
        from warden_analysers.policy_to_runbook.llm_planner import plan_with_llm

        return plan_with_llm(labelled, ctx, max_steps=max_steps)
    return draft_runbook(labelled, ctx, max_steps=max_steps)
