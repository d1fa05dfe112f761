"""Approval checks: every runbook names a role that exists, and one the policy accepts."""

from __future__ import annotations

from collections.abc import Iterator

from warden.guard.checks._base import issue
from warden.guard.context import GuardContext
from warden.schemas.report import GuardIssue
from warden.schemas.runbook import RunbookDefinition

__all__ = ["check_approval_present", "check_approval_role"]


def check_approval_present(runbook: RunbookDefinition, ctx: GuardContext) -> Iterator[GuardIssue]:
    if runbook.approval is None:
        yield issue(
            "missing_approval",
            "approval",
            "the runbook names no approval role, so nobody could be asked to approve it",
            fix="add `approval: {required_role: <role>}`",
        )


def check_approval_role(runbook: RunbookDefinition, ctx: GuardContext) -> Iterator[GuardIssue]:
    assert ctx.policy is not None and ctx.tenant is not None
    if runbook.approval is None or ctx.tenant not in ctx.policy.policy.tenants:
        return
    tenant = ctx.policy.tenant(ctx.tenant)
    role = runbook.approval.required_role
    if role not in tenant.roles:
        yield issue(
            "unknown_role",
            "approval.required_role",
            f"role '{role}' does not exist in tenant '{ctx.tenant}'",
            fix=f"use one of: {', '.join(tenant.roles)}",
        )
        return
    required = tenant.approval.required_roles
    if required and role not in required:
        yield issue(
            "missing_approval",
            "approval.required_role",
            f"role '{role}' may not approve runbooks in tenant '{ctx.tenant}'",
            fix=f"require one of: {', '.join(required)}",
        )
    if not any(role in user.roles for user in tenant.users.values()):
        yield issue(
            "unknown_role",
            "approval.required_role",
            f"no user of tenant '{ctx.tenant}' holds role '{role}', so nobody could approve",
            fix="give the role to a user in the policy, or require another role",
            severity="warning",
        )
