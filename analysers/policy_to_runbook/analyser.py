"""Entry point of ``policy_to_runbook``: a labelled notice in, a draft runbook out."""

from __future__ import annotations

from typing import Any

from warden_analysers.policy_to_runbook.planner import draft_runbook

from warden.analyser import AnalyserContext
from warden.errors import LoadError

__all__ = ["run"]


def run(inputs: dict[str, Any], config: dict[str, Any], ctx: AnalyserContext) -> dict[str, Any]:
    """Offline by default; the LLM planner plugs in at the same seam (config planner: llm)."""
    labelled = next(
        (v for v in inputs.values() if isinstance(v, dict) and "passages" in v and "document_id" in v), None
    )
    if labelled is None:
        labelled = next((v for v in inputs.values() if isinstance(v, dict) and "passages" in v), None)
    if labelled is None:
        raise LoadError("policy_to_runbook needs labelled passages as input", code="bad_input")
    if config.get("planner", "offline") != "offline":
        raise LoadError(
            "the LLM planner is not configured in this build",
            code="planner_unavailable",
            fix="use planner: offline",
        )
    return draft_runbook(labelled, ctx, max_steps=int(config.get("max_steps", 50)))
