"""Run statuses: defined here once; the store, the graph, the service and the CLI import them."""

from __future__ import annotations

from typing import Literal, get_args

__all__ = ["CAP_STATUSES", "RUN_STATUSES", "TERMINAL", "UNSUCCESSFUL", "RunStatus"]

RunStatus = Literal[
    "running",
    "waiting_approval",
    "completed",
    "rejected",
    "failed",
    "budget_exceeded",
    "depth_exceeded",
    "timed_out",
    "cancelled",
]
"""Where a run stands.

- ``running``: working, or resumable after a crash.
- ``waiting_approval``: paused at the approval interrupt.
- ``completed``: every step finished.
- ``rejected``: a human rejected it, or the guard refused it.
- ``failed``: a step failed after its retries, or the planner failed; or an internal or storage
  error stopped it (its reason says so, and `warden resume` retries it once the cause is fixed).
- ``budget_exceeded`` / ``depth_exceeded`` / ``timed_out``: a cap of the run tree stopped it.
- ``cancelled``: the kill switch stopped it, or its requester or an approver withdrew it.
"""

RUN_STATUSES: tuple[RunStatus, ...] = get_args(RunStatus)
TERMINAL: frozenset[RunStatus] = frozenset(RUN_STATUSES) - {"running", "waiting_approval"}
CAP_STATUSES: frozenset[RunStatus] = frozenset(
    {"budget_exceeded", "depth_exceeded", "timed_out", "cancelled"}
)
"""Statuses a cap or the kill switch gives a run; a parent stopped by a child inherits them."""
UNSUCCESSFUL: frozenset[RunStatus] = TERMINAL - {"completed"}
"""Statuses that end a command with exit 1."""
