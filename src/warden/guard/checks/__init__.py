"""The guard's named checks, in the order they run. One module per concern."""

from warden.guard.checks._base import Check, issue
from warden.guard.checks.analysers import (
    check_allowed_analysers,
    check_known_analysers,
    check_step_config,
)
from warden.guard.checks.approval import check_approval_present, check_approval_role
from warden.guard.checks.contracts import check_contracts
from warden.guard.checks.limits import check_cost, check_depth, check_durations, estimate_cost
from warden.guard.checks.lineage import check_lineage
from warden.guard.checks.models import check_model
from warden.guard.checks.retries import check_retries
from warden.guard.checks.safety import check_paths, check_templates
from warden.guard.checks.structure import check_cycles, check_references, dependencies
from warden.guard.checks.tenancy import check_kill_switch, check_tenancy

__all__ = ["CHECKS", "Check", "dependencies", "estimate_cost", "issue"]

CHECKS: tuple[Check, ...] = (
    Check("kill_switch", check_kill_switch, needs_policy=True),
    Check("references", check_references),
    Check("cycles", check_cycles),
    Check("known_analysers", check_known_analysers),
    Check("step_config", check_step_config),
    Check("allowed_analysers", check_allowed_analysers, needs_policy=True),
    Check("tenancy", check_tenancy, needs_policy=True),
    Check("approval_present", check_approval_present),
    Check("approval_role", check_approval_role, needs_policy=True),
    Check("lineage", check_lineage),
    Check("cost", check_cost),
    Check("depth", check_depth),
    Check("durations", check_durations),
    Check("retries", check_retries),
    Check("model", check_model),
    Check("contracts", check_contracts),
    Check("templates", check_templates),
    Check("paths", check_paths, needs_policy=True),
)
"""Every check the guard runs; a report lists each with its status."""
