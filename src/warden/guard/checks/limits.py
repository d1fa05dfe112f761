"""Limit checks: declared costs, nesting and durations fit the caps, and no child raises them."""

from __future__ import annotations

from collections.abc import Iterator

from warden.catalogue import Catalogue
from warden.guard.checks._base import analyser_steps, issue, workflow_steps
from warden.guard.context import GuardContext
from warden.schemas.report import GuardIssue, IssueCode
from warden.schemas.runbook import Limits, RunbookDefinition

__all__ = ["check_cost", "check_depth", "check_durations", "estimate_cost"]

_CODE: dict[str, IssueCode] = {
    "max_depth": "depth_limit",
    "max_cost_usd": "cost_limit",
    "max_duration_s": "duration_limit",
    "step_timeout_s": "duration_limit",
}


def estimate_cost(runbook: RunbookDefinition, catalogue: Catalogue) -> float:
    """Sum of the analysers' declared estimates, inline children included.

    Children produced at run time are estimated when they are produced and guarded then.
    """
    total = 0.0
    for _, step in analyser_steps(runbook):
        manifest = catalogue.get(step.analyser)
        total += manifest.cost_estimate_usd if manifest else 0.0
    for _, wf_step in workflow_steps(runbook):
        if isinstance(wf_step.execute_workflow, RunbookDefinition):
            total += estimate_cost(wf_step.execute_workflow, catalogue)
    return round(total, 6)


def _raised(own: Limits, caps: Limits, path: str, fields: tuple[str, ...]) -> Iterator[GuardIssue]:
    for name in fields:
        mine, cap = getattr(own, name), getattr(caps, name)
        if mine is not None and cap is not None and mine > cap:
            yield issue(
                _CODE[name],
                f"{path}.{name}",
                f"{name} is {mine}, above the cap of {cap} set by the policy or the parent runbook",
                fix=f"lower {name} to at most {cap}",
            )


def check_cost(runbook: RunbookDefinition, ctx: GuardContext) -> Iterator[GuardIssue]:
    caps = ctx.caps()
    yield from _raised(runbook.limits, caps, "limits", ("max_cost_usd",))
    effective = ctx.effective_limits(runbook)
    for i, step in workflow_steps(runbook):
        yield from _raised(step.limits, effective, f"steps[{i}].limits", ("max_cost_usd",))
    cap = effective.max_cost_usd
    estimate = estimate_cost(runbook, ctx.catalogue)
    if cap is not None and ctx.spent_usd + estimate > cap:
        spent = f" on top of ${ctx.spent_usd:.4f} already spent" if ctx.spent_usd else ""
        yield issue(
            "cost_limit",
            "steps",
            f"declared cost estimate ${estimate:.4f}{spent} exceeds the cap of ${cap:.4f}",
            fix="remove costly steps or, within the policy's cap, raise limits.max_cost_usd",
        )


def check_depth(runbook: RunbookDefinition, ctx: GuardContext) -> Iterator[GuardIssue]:
    caps = ctx.caps()
    yield from _raised(runbook.limits, caps, "limits", ("max_depth",))
    effective = ctx.effective_limits(runbook)
    cap = effective.max_depth
    if cap is not None and ctx.depth > cap:
        yield issue(
            "depth_limit",
            "",
            f"this runbook would run at depth {ctx.depth}, beyond max_depth {cap}",
            fix="flatten the plan: run these steps in the parent instead of a child runbook",
        )
        return
    for i, step in workflow_steps(runbook):
        yield from _raised(step.limits, effective, f"steps[{i}].limits", ("max_depth",))
        if cap is not None and ctx.depth + 1 > cap:
            yield issue(
                "depth_limit",
                f"steps[{i}].execute_workflow",
                f"a child runbook would run at depth {ctx.depth + 1}, beyond max_depth {cap}",
                fix="remove the execute_workflow step or, within the policy's cap, raise max_depth",
            )


def check_durations(runbook: RunbookDefinition, ctx: GuardContext) -> Iterator[GuardIssue]:
    fields = ("max_duration_s", "step_timeout_s")
    yield from _raised(runbook.limits, ctx.caps(), "limits", fields)
    effective = ctx.effective_limits(runbook)
    for i, wf_step in workflow_steps(runbook):
        yield from _raised(wf_step.limits, effective, f"steps[{i}].limits", fields)
    cap = effective.step_timeout_s
    for i, step in enumerate(runbook.steps):
        if cap is not None and step.timeout_s is not None and step.timeout_s > cap:
            yield issue(
                "duration_limit",
                f"steps[{i}].timeout_s",
                f"step timeout {step.timeout_s}s is above the cap of {cap}s",
                fix=f"lower timeout_s to at most {cap}",
            )
