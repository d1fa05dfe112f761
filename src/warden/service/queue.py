"""What the approval queue operations return, and the loop a server runs them in.

The values are plain frozen dataclasses (``to_dict()`` gives JSON-ready data) so entry points
can render or serialise them without knowing the store. Times are naive UTC, as stored.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from warden.service.service import Service

__all__ = [
    "DUE_SOON_FRACTION",
    "Comment",
    "DeliveryReport",
    "Escalation",
    "InboxItem",
    "QueueHealth",
    "RunbookVersion",
    "SlaState",
    "run_escalation_loop",
    "utc_naive",
]

log = logging.getLogger("warden.service.queue")

SlaState = Literal["ok", "due_soon", "overdue", "escalated"]
"""Where a pending approval stands against its SLA.

- ``ok``: no SLA, or more than :data:`DUE_SOON_FRACTION` of it left.
- ``due_soon``: less than that left.
- ``overdue``: past its due time, not yet escalated (the next escalation pass will).
- ``escalated``: past its due time and escalated (an ``approval_escalated`` audit event).
"""

DUE_SOON_FRACTION = 0.25
"""A pending approval is due soon when less than this share of its SLA remains."""


def utc_naive(value: datetime | None) -> datetime:
    """`value` (now when None) as naive UTC, the store's convention; aware values are converted."""
    if value is None:
        return datetime.now(UTC).replace(tzinfo=None)
    if value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") + "Z" if value is not None else None


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    return {k: _iso(v) if isinstance(v, datetime) else v for k, v in data.items()}


@dataclass(slots=True)
class InboxItem:
    """One approval the principal may decide, as the inbox lists it (fields in the order of
    ``store.approval_queue.INBOX_COLUMNS``; a plain slotted class: an inbox builds thousands)."""

    run_id: str
    root_run_id: str
    tenant: str
    document: str | None
    requester: str
    required_role: str
    runbook: str
    runbook_sha256: str
    depth: int
    requested_at: datetime
    age_s: float
    sla_state: SlaState
    due_at: datetime | None
    escalated_at: datetime | None
    guard_ok: bool
    guard_warnings: int
    guard_errors: int
    cost_estimate_usd: float

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(asdict(self))


@dataclass(frozen=True)
class Escalation:
    """One pending approval escalated by :meth:`Service.escalate_overdue`."""

    run_id: str
    root_run_id: str
    tenant: str
    required_role: str
    escalate_to: str
    """The role told (the required role again when the policy names no escalation role)."""
    due_at: datetime
    escalated_at: datetime
    notified: list[str] = field(default_factory=list)
    """Users holding the escalation role under the run's bound policy."""

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(asdict(self))


@dataclass(frozen=True)
class QueueHealth:
    """The figures of one tenant's approval queue at a moment."""

    tenant: str
    at: datetime
    pending: int
    pending_by_age: dict[str, int]
    """Pending approvals by age bucket (``under_1h``, ``1h_to_4h``, ``4h_to_24h``, ``1d_to_3d``,
    ``over_3d``)."""
    overdue: int
    """Pending and past their due time (escalated or not)."""
    escalated_pending: int
    escalated_total: int
    decided: int
    """Approvals decided by a person or a rule (approve, edit, reject)."""
    approved: int
    """Approved as drafted or edited."""
    rejected: int
    edited: int
    withdrawn: int
    """Closed without a decision: the run was cancelled, stopped by the kill switch or a cap, or failed."""
    time_to_approve_p50_s: float | None
    time_to_approve_p95_s: float | None
    reject_rate: float | None
    """rejected / decided (None when nothing was decided)."""
    edit_rate: float | None
    """edited / decided."""
    sla_breaches: int
    """Approvals with an SLA that were decided, or are still waiting, after their due time."""

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(asdict(self))


@dataclass(frozen=True)
class Comment:
    """One remark in a run's thread."""

    comment_id: str
    run_id: str
    author: str
    auth: str
    text: str
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(asdict(self))


@dataclass(frozen=True)
class RunbookVersion:
    """An approved version of a runbook, for the review page's history."""

    runbook: str
    version_no: int
    declared_version: int
    sha256: str
    approved_at: datetime
    approved_by: str
    first_run_id: str
    decision: str | None
    """``approve`` or ``edit`` (an approver's change), when recorded."""
    definition: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(asdict(self))


@dataclass(frozen=True)
class DeliveryReport:
    """What one pass over the notification outbox did."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0
    """Given up for good this pass (attempts spent, or no channel left to send through)."""
    errors: list[str] = field(default_factory=list)
    """``notification_id: error`` of this pass's failed attempts, credentials masked."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_escalation_loop(
    service: Service,
    interval_s: float,
    stop_event: threading.Event,
    *,
    deliver: bool = True,
) -> None:
    """Escalate overdue approvals and drain the outbox every `interval_s` until `stop_event` is
    set (a server runs this in a thread). A failing pass is logged and the loop goes on: the
    state is data, so the next pass (or a restarted process) picks up where this one stopped."""
    while not stop_event.is_set():
        try:
            service.escalate_overdue()
        except Exception:
            log.exception("escalation pass failed")
        if deliver:
            try:
                service.deliver_notifications()
            except Exception:
                log.exception("notification delivery pass failed")
        stop_event.wait(interval_s)
