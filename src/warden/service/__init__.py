"""The service layer: the one door every entry point passes. Tenancy, roles, the policy a run
is bound to and the kill switch are enforced here, never in the CLI or the server."""

from warden.graph.engine import Outcome
from warden.service.errors import (
    DocumentRefused,
    NoPrincipal,
    NotFound,
    PolicyMismatch,
    RunRefused,
    UnknownFinding,
)
from warden.service.principal import AuthMethod, Principal
from warden.service.queue import (
    Comment,
    DeliveryReport,
    Escalation,
    InboxItem,
    QueueHealth,
    RunbookVersion,
    SlaState,
    run_escalation_loop,
)
from warden.service.service import Service
from warden.service.starting import DEFAULT_RUNBOOK, UPLOADS, builtin_runbook

__all__ = [
    "DEFAULT_RUNBOOK",
    "UPLOADS",
    "AuthMethod",
    "Comment",
    "DeliveryReport",
    "DocumentRefused",
    "Escalation",
    "InboxItem",
    "NoPrincipal",
    "NotFound",
    "Outcome",
    "PolicyMismatch",
    "Principal",
    "QueueHealth",
    "RunRefused",
    "RunbookVersion",
    "Service",
    "SlaState",
    "UnknownFinding",
    "builtin_runbook",
    "run_escalation_loop",
]
