"""Tenancy checks: a runbook stays inside its own tenant, and nothing runs past a kill switch."""

from __future__ import annotations

from collections.abc import Iterator

from warden.guard.checks._base import analyser_steps, issue
from warden.guard.context import GuardContext
from warden.schemas.report import GuardIssue
from warden.schemas.runbook import RunbookDefinition

__all__ = ["check_kill_switch", "check_tenancy"]


def check_tenancy(runbook: RunbookDefinition, ctx: GuardContext) -> Iterator[GuardIssue]:
    assert ctx.policy is not None and ctx.tenant is not None
    if runbook.tenant != ctx.tenant:
        yield issue(
            "cross_tenant",
            "tenant",
            f"runbook belongs to tenant '{runbook.tenant}' but is submitted for '{ctx.tenant}'",
            fix=f"set tenant: {ctx.tenant}, or submit it as a user of '{runbook.tenant}'",
        )
    own = {system.id for system in ctx.policy.tenant(ctx.tenant).systems}
    for i, step in analyser_steps(runbook):
        if step.system is None or step.system in own:
            continue
        # one answer whether another tenant has the id or nobody does: the report (the review
        # page's check of an edit, a refused decision) must not confirm other tenants' systems
        yield issue(
            "cross_tenant",
            f"steps[{i}].system",
            f"system '{step.system}' is not in the inventory of tenant '{ctx.tenant}'",
            fix=f"use a system from the inventory of '{ctx.tenant}'",
        )


def check_kill_switch(runbook: RunbookDefinition, ctx: GuardContext) -> Iterator[GuardIssue]:
    assert ctx.policy is not None and ctx.tenant is not None
    reason = ctx.policy.kill_switch_reason(ctx.tenant) or ctx.kill_switch
    if reason:
        yield issue(
            "kill_switch",
            "",
            f"the kill switch is engaged for tenant '{ctx.tenant}': {reason}",
            fix="an admin must release the kill switch in the policy before anything runs",
        )
