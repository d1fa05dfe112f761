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
from warden.service.service import DEFAULT_RUNBOOK, UPLOADS, Service, builtin_runbook

__all__ = [
    "DEFAULT_RUNBOOK",
    "UPLOADS",
    "AuthMethod",
    "DocumentRefused",
    "NoPrincipal",
    "NotFound",
    "Outcome",
    "PolicyMismatch",
    "Principal",
    "RunRefused",
    "Service",
    "UnknownFinding",
    "builtin_runbook",
]
