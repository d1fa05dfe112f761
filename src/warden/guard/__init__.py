"""The guard: decides whether a runbook may be submitted for approval, and says why not.

Every runbook passes here, the root one and every one a planner generates, before a human
sees it and again before it runs.
"""

from warden.guard.checks import CHECKS, Check, dependencies, estimate_cost
from warden.guard.context import GuardContext
from warden.guard.engine import load_error_report, validate, validate_data

__all__ = [
    "CHECKS",
    "Check",
    "GuardContext",
    "dependencies",
    "estimate_cost",
    "load_error_report",
    "validate",
    "validate_data",
]
