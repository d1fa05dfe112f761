"""Runs every check over a runbook and its inline children and assembles the report."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import ValidationError

from warden.errors import LoadError
from warden.guard.checks import CHECKS, estimate_cost
from warden.guard.checks._base import analyser_steps, workflow_steps
from warden.guard.context import GuardContext, step_caps
from warden.runbooks.hashing import sha256_of
from warden.safeload import Parsed, plain_data_problem, validation_errors
from warden.schemas.report import CheckResult, GuardIssue, ValidationReport
from warden.schemas.runbook import RunbookDefinition

__all__ = ["load_error_report", "model_steps", "validate", "validate_data"]


def validate(runbook: RunbookDefinition, ctx: GuardContext, *, source: str | None = None) -> ValidationReport:
    """The guard's verdict on a schema-valid runbook (inline children included)."""
    counts: dict[str, int] = {c.name: 0 for c in CHECKS}
    issues = list(_run_tree(runbook, ctx, counts))
    policy_ready = ctx.policy is not None and ctx.tenant is not None
    checks = [CheckResult(name="schema", status="passed")]
    for check in CHECKS:
        if check.needs_policy and not policy_ready:
            checks.append(CheckResult(name=check.name, status="skipped"))
        else:
            n = counts[check.name]
            checks.append(CheckResult(name=check.name, status="failed" if n else "passed", issues=n))
    return _report(issues, checks, ctx, source, runbook)


def validate_data(parsed: Parsed, ctx: GuardContext) -> ValidationReport:
    """Validate plain data (a parsed file, a planner's output): schema first, then the checks."""
    if not isinstance(parsed.data, dict):
        issue = GuardIssue(
            code="schema",
            check="schema",
            path="",
            message=f"a runbook must be a mapping at the top level, not {type(parsed.data).__name__}",
            line=1 if parsed.source else None,
        )
        return _schema_failure([issue], ctx, parsed.source)
    problem = plain_data_problem(parsed.data)
    if problem is not None:
        path, message, _ = problem
        issue = GuardIssue(
            code="schema",
            check="schema",
            path=path,
            message=message,
            line=parsed.line_of(path),
            fix="a runbook is plain YAML/JSON data of modest size",
        )
        return _schema_failure([issue], ctx, parsed.source, parsed.data)
    try:
        runbook = RunbookDefinition.model_validate(parsed.data)
    except ValidationError as exc:
        issues = [
            GuardIssue(
                code="schema",
                check="schema",
                path=path,
                message=message,
                line=line,
                fix="see `warden schema runbook` for the expected shape",
            )
            for path, line, message in validation_errors(exc, parsed)
        ]
        return _schema_failure(issues, ctx, parsed.source, parsed.data)
    report = validate(runbook, ctx, source=parsed.source)
    for item in report.issues:
        item.line = parsed.line_of(item.path)
    return report


def load_error_report(error: LoadError, ctx: GuardContext) -> ValidationReport:
    """A report for a file that could not even be parsed."""
    issue = GuardIssue(
        code="load_error",
        check="load",
        path=error.path or "",
        message=error.reason,
        fix=error.fix,
        line=error.line,
    )
    return _schema_failure([issue], ctx, error.source)


def _run_tree(runbook: RunbookDefinition, ctx: GuardContext, counts: dict[str, int]) -> Iterator[GuardIssue]:
    policy_ready = ctx.policy is not None and ctx.tenant is not None
    for check in CHECKS:
        if check.needs_policy and not policy_ready:
            continue
        for found in check.run(runbook, ctx):
            counts[check.name] += 1
            found.check = check.name
            found.path = _join(ctx.path, found.path)
            yield found
    for i, step in workflow_steps(runbook):
        if isinstance(step.execute_workflow, RunbookDefinition):
            child_path = _join(ctx.path, f"steps[{i}].execute_workflow")
            child = ctx.child(runbook, step_caps(step), child_path)
            cap = child.caps().max_depth
            if cap is not None and child.depth > cap:
                continue  # the parent's depth check reported this step; nothing below can run
            yield from _run_tree(step.execute_workflow, child, counts)


def _join(prefix: str, path: str) -> str:
    if not prefix:
        return path
    return f"{prefix}.{path}" if path else prefix


def _report(
    issues: list[GuardIssue],
    checks: list[CheckResult],
    ctx: GuardContext,
    source: str | None,
    runbook: RunbookDefinition | None,
) -> ValidationReport:
    return ValidationReport(
        ok=not any(i.severity == "error" for i in issues),
        source=source,
        runbook=runbook.runbook if runbook else None,
        version=runbook.version if runbook else None,
        tenant=ctx.tenant or (runbook.tenant if runbook else None),
        depth=ctx.depth,
        runbook_sha256=sha256_of(runbook) if runbook else None,
        policy_sha256=ctx.policy.sha256 if ctx.policy else None,
        cost_estimate_usd=estimate_cost(runbook, ctx.catalogue) if runbook else 0.0,
        model_steps=list(model_steps(runbook, ctx)) if runbook else [],
        checks=checks,
        issues=issues,
    )


def model_steps(runbook: RunbookDefinition, ctx: GuardContext, path: str = "steps") -> Iterator[str]:
    """Paths of the steps that may call a language model when run here (no model configured:
    none); an auto-approval rule approves them only when it says so (`model_calls`)."""
    if ctx.llm_model is None:
        return
    for i, step in analyser_steps(runbook):
        manifest = ctx.catalogue.get(step.analyser)
        if manifest is not None and manifest.uses_llm != "never":
            yield f"{path}[{i}]"
    for i, wf_step in workflow_steps(runbook):
        if isinstance(wf_step.execute_workflow, RunbookDefinition):
            yield from model_steps(wf_step.execute_workflow, ctx, f"{path}[{i}].execute_workflow.steps")


def _schema_failure(
    issues: list[GuardIssue], ctx: GuardContext, source: str | None, data: Any = None
) -> ValidationReport:
    checks = [CheckResult(name="schema", status="failed", issues=len(issues))]
    checks += [CheckResult(name=c.name, status="skipped") for c in CHECKS]
    report = _report(issues, checks, ctx, source, None)
    if isinstance(data, dict):
        name, version = data.get("runbook"), data.get("version")
        name_ok = isinstance(name, str) and plain_data_problem(name) is None
        version_ok = type(version) is int and plain_data_problem(version) is None
        report.runbook = name if name_ok else None
        report.version = version if version_ok else None
    return report
