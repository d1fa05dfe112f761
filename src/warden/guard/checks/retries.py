"""Retry check: a step's retry policy, at its worst (every attempt to its timeout, every backoff
slept), fits the tree's duration cap.

A warning, not a refusal: the run enforces the cap whatever the policy (each attempt's timeout is
cut to the time left, no backoff is slept past it, and the run ends ``timed_out`` saying the cap
ended the retries), and timeouts are bounds, not expected durations. The approver is told that
the retries they approve may not all be made.

A retry on an ``execute_workflow`` step is refused: a child run is never retried (a child that
fails fails its parent), so the approver would approve attempts that are never made.
"""

from __future__ import annotations

from collections.abc import Iterator

from warden.guard.checks._base import analyser_steps, issue, workflow_steps
from warden.guard.context import GuardContext
from warden.schemas.report import GuardIssue
from warden.schemas.runbook import AnalyserStep, RunbookDefinition

__all__ = ["check_retries", "worst_case_s"]


def worst_case_s(step: AnalyserStep, step_timeout_s: float | None) -> float | None:
    """How long the step may run with all its attempts and backoffs; None without a timeout."""
    timeout = step.timeout_s or step_timeout_s
    if timeout is None:
        return None
    retry = step.retry
    backoffs, delay = 0.0, retry.backoff_s
    for _ in range(retry.max_attempts - 1):
        backoffs += delay
        delay *= retry.backoff_multiplier
    return timeout * retry.max_attempts + backoffs


def check_retries(runbook: RunbookDefinition, ctx: GuardContext) -> Iterator[GuardIssue]:
    for i, wf_step in workflow_steps(runbook):
        if wf_step.retry.max_attempts > 1:
            yield issue(
                "schema",
                f"steps[{i}].retry",
                f"step '{wf_step.id}' executes a child runbook, which is not retried: "
                f"{wf_step.retry.max_attempts} attempts would never be made",
                fix="remove `retry` from the execute_workflow step (retry the child's own analyser steps)",
            )
    limits = ctx.effective_limits(runbook)
    cap = limits.max_duration_s
    if cap is None:
        return
    for i, step in analyser_steps(runbook):
        attempts = step.retry.max_attempts
        if attempts < 2:
            continue
        worst = worst_case_s(step, limits.step_timeout_s)
        if worst is None:
            yield issue(
                "duration_limit",
                f"steps[{i}].retry",
                f"{attempts} attempts without a timeout of their own: the first that hangs uses the "
                f"whole {cap:g}s duration cap and no retry is made",
                fix=f"give the step a timeout_s of at most {cap / attempts:g}s, or lower retry.max_attempts",
                severity="warning",
            )
        elif worst > cap:
            yield issue(
                "duration_limit",
                f"steps[{i}].retry",
                f"{attempts} attempts of up to {step.timeout_s or limits.step_timeout_s:g}s with their "
                f"backoffs may take {worst:g}s, more than the {cap:g}s duration cap: the cap ends the "
                "retries (the run stops timed_out)",
                fix="lower timeout_s, retry.max_attempts or retry.backoff_s, or, within the policy's cap, "
                "raise limits.max_duration_s",
                severity="warning",
            )
