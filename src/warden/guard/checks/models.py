"""Model checks: the model a runbook asks for is allowed and reachable when it is needed."""

from __future__ import annotations

from collections.abc import Iterator

from warden.guard.checks._base import analyser_steps, issue
from warden.guard.context import GuardContext
from warden.schemas.report import GuardIssue
from warden.schemas.runbook import RunbookDefinition

__all__ = ["check_model"]


def check_model(runbook: RunbookDefinition, ctx: GuardContext) -> Iterator[GuardIssue]:
    if runbook.model is not None and ctx.policy is not None and ctx.tenant is not None:
        allowed = ctx.policy.tenant(ctx.tenant).models
        if runbook.model.model not in allowed:
            yield issue(
                "model_unavailable",
                "model.model",
                f"model '{runbook.model.model}' is not allowed for tenant '{ctx.tenant}'",
                fix=f"use one of: {', '.join(allowed)}"
                if allowed
                else "remove `model`: this tenant runs offline",
            )
    configured = ctx.llm_model is not None
    for i, step in analyser_steps(runbook):
        manifest = ctx.catalogue.get(step.analyser)
        if manifest is None or manifest.uses_llm == "never" or configured:
            continue
        if manifest.uses_llm == "required":
            yield issue(
                "model_unavailable",
                f"steps[{i}].analyser",
                f"analyser '{step.analyser}' needs a language model and none is configured",
                fix="set WARDEN_LLM_MODEL and OPENAI_BASE_URL (see `warden doctor`), or remove the step",
            )
        elif runbook.model is not None:
            yield issue(
                "model_unavailable",
                f"steps[{i}].analyser",
                f"model '{runbook.model.model}' is requested but no endpoint is configured; "
                f"'{step.analyser}' will run offline",
                fix="configure the endpoint, or remove `model` from the runbook",
                severity="warning",
            )
