"""Analyser checks: each step's analyser is installed, allowed for the tenant, and configured right."""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache

from warden.guard.checks._base import analyser_steps, issue
from warden.guard.context import GuardContext
from warden.schemas.report import GuardIssue
from warden.schemas.runbook import RunbookDefinition

__all__ = ["check_allowed_analysers", "check_known_analysers", "check_step_config"]


def check_known_analysers(runbook: RunbookDefinition, ctx: GuardContext) -> Iterator[GuardIssue]:
    for i, step in analyser_steps(runbook):
        if step.analyser not in ctx.catalogue:
            yield issue(
                "unknown_analyser",
                f"steps[{i}].analyser",
                f"no analyser named '{step.analyser}' is installed",
                fix=f"use one of: {', '.join(ctx.catalogue.names())}",
            )


def check_allowed_analysers(runbook: RunbookDefinition, ctx: GuardContext) -> Iterator[GuardIssue]:
    assert ctx.policy is not None and ctx.tenant is not None
    allowed = set(ctx.policy.tenant(ctx.tenant).analysers)
    for i, step in analyser_steps(runbook):
        if step.analyser in ctx.catalogue and step.analyser not in allowed:
            yield issue(
                "analyser_not_allowed",
                f"steps[{i}].analyser",
                f"tenant '{ctx.tenant}' may not run analyser '{step.analyser}'",
                fix="remove the step, or ask an admin to add the analyser to the tenant's list",
            )


def check_step_config(runbook: RunbookDefinition, ctx: GuardContext) -> Iterator[GuardIssue]:
    """Each step's ``config`` against its analyser's declared JSON Schema."""
    import json

    for i, step in analyser_steps(runbook):
        manifest = ctx.catalogue.get(step.analyser)
        if manifest is None:
            continue
        validator = _validator(json.dumps(manifest.config_schema, sort_keys=True))
        for err in sorted(validator.iter_errors(step.config), key=lambda e: list(e.absolute_path)):
            where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.absolute_path)
            yield issue(
                "schema",
                f"steps[{i}].config{where}",
                f"config for '{step.analyser}' is invalid: {err.message}",
                fix=f"see the config_schema in the '{step.analyser}' manifest",
            )


@lru_cache(maxsize=64)
def _validator(schema_json: str):  # type: ignore[no-untyped-def]
    import json

    from jsonschema import Draft202012Validator

    return Draft202012Validator(json.loads(schema_json))
