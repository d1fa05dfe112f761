"""The shape every check shares."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from warden.guard.context import GuardContext
from warden.runbooks.templates import Reference, parse_reference
from warden.schemas.report import GuardIssue, IssueCode, IssueSeverity
from warden.schemas.runbook import AnalyserStep, RunbookDefinition, WorkflowStep

__all__ = ["Check", "CheckFn", "analyser_steps", "issue", "workflow_steps"]

CheckFn = Callable[[RunbookDefinition, GuardContext], Iterator[GuardIssue]]


@dataclass(frozen=True)
class Check:
    """A named check; ``needs_policy`` checks are skipped when no policy is given."""

    name: str
    run: CheckFn
    needs_policy: bool = False


def issue(
    code: IssueCode,
    path: str,
    message: str,
    *,
    fix: str | None = None,
    severity: IssueSeverity = "error",
) -> GuardIssue:
    """A GuardIssue whose ``check`` the engine fills in."""
    return GuardIssue(code=code, check="", path=path, message=message, fix=fix, severity=severity)


def analyser_steps(runbook: RunbookDefinition) -> Iterator[tuple[int, AnalyserStep]]:
    for i, step in enumerate(runbook.steps):
        if isinstance(step, AnalyserStep):
            yield i, step


def workflow_steps(runbook: RunbookDefinition) -> Iterator[tuple[int, WorkflowStep]]:
    for i, step in enumerate(runbook.steps):
        if isinstance(step, WorkflowStep):
            yield i, step


def template_references(runbook: RunbookDefinition) -> Iterator[tuple[int, WorkflowStep, Reference]]:
    """``execute_workflow`` steps given as a plain reference, with the reference parsed.

    Strings that are not plain references are left to the ``unsafe_input`` check.
    """
    for i, step in workflow_steps(runbook):
        if isinstance(step.execute_workflow, str):
            ref = parse_reference(step.execute_workflow)
            if ref is not None:
                yield i, step, ref
