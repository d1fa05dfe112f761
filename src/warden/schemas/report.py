"""The validation report: the guard's verdict on one runbook, one issue per problem found."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from warden.schemas._base import StrictModel

__all__ = [
    "ISSUE_CODES",
    "CheckResult",
    "CheckStatus",
    "GuardIssue",
    "IssueCode",
    "IssueSeverity",
    "ValidationReport",
]

IssueCode = Literal[
    "load_error",
    "schema",
    "cycle",
    "unknown_reference",
    "unknown_analyser",
    "analyser_not_allowed",
    "cross_tenant",
    "missing_approval",
    "unknown_role",
    "cost_limit",
    "depth_limit",
    "duration_limit",
    "model_unavailable",
    "contract_mismatch",
    "unsafe_input",
    "kill_switch",
]
"""Stable codes of guard issues; tools and tests match on them, so they never change meaning.

- ``load_error``: the file could not be read as YAML or JSON (size, encoding, syntax, bombs).
- ``schema``: the runbook does not match the runbook schema, or a step's config does not
  match its analyser's config schema.
- ``cycle``: steps depend on each other in a loop.
- ``unknown_reference``: an input or template names something that does not exist (a system,
  when the guard runs without a tenant).
- ``unknown_analyser``: a step names an analyser that is not installed.
- ``analyser_not_allowed``: the analyser exists but the tenant may not run it.
- ``cross_tenant``: the runbook reaches another tenant, or a step a system outside its tenant's
  inventory (one answer whether another tenant has it or nobody does).
- ``missing_approval``: the runbook names no approval role, or one weaker than policy demands.
- ``unknown_role``: the approval role is not a role of the tenant.
- ``cost_limit``: declared cost estimates exceed a cap, or a limit is raised above its parent's.
- ``depth_limit``: nesting exceeds ``max_depth``, or a child raises the depth cap.
- ``duration_limit``: a duration or timeout is raised above the policy's or parent's cap; as a
  warning, a step's retries (attempts x timeout + backoffs) may not fit the tree's duration cap.
- ``model_unavailable``: the model is not allowed for the tenant, or an analyser needs a model
  and none is configured.
- ``contract_mismatch``: a step's input is not what its producer outputs.
- ``unsafe_input``: a path escapes the tenant's allowed roots, or a template expression is not
  a plain reference.
- ``kill_switch``: the policy's kill switch is engaged for the tenant; nothing may run.
"""

ISSUE_CODES: tuple[str, ...] = IssueCode.__args__  # type: ignore[attr-defined]

IssueSeverity = Literal["error", "warning"]
"""``error`` blocks submission for approval; ``warning`` is shown to the approver only."""


class GuardIssue(StrictModel):
    """One problem, located by a path into the runbook, with what to do about it."""

    code: IssueCode
    severity: IssueSeverity = "error"
    check: str = Field(description="Name of the check that raised it.")
    path: str = Field(description="Dotted path into the runbook, e.g. 'steps[2].analyser'.")
    message: str
    fix: str | None = Field(default=None, description="What to change to clear the issue.")
    line: int | None = Field(default=None, ge=1, description="Source line, when known.")


CheckStatus = Literal["passed", "failed", "skipped"]
"""Outcome of one check: ``skipped`` when its prerequisites (a valid schema, a policy) are missing."""


class CheckResult(StrictModel):
    """How one named check ended, for the approver's table and the audit trail."""

    name: str
    status: CheckStatus
    issues: int = Field(default=0, ge=0)


class ValidationReport(StrictModel):
    """Everything the guard concluded about one runbook for one tenant."""

    ok: bool = Field(description="True when the runbook may be submitted for approval.")
    source: str | None = Field(default=None, description="File the runbook came from.")
    runbook: str | None = None
    version: int | None = None
    tenant: str | None = None
    depth: int = Field(default=0, ge=0)
    runbook_sha256: str | None = None
    policy_sha256: str | None = None
    cost_estimate_usd: float = Field(default=0.0, ge=0)
    model_steps: list[str] = Field(
        default_factory=list,
        description="Paths of the steps (inline children's too) whose analyser may call a language "
        "model here: it uses one (optionally or always) and a model is configured.",
    )
    checks: list[CheckResult] = Field(default_factory=list)
    issues: list[GuardIssue] = Field(default_factory=list)
