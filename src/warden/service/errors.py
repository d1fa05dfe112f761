"""The service's refusals: each has a code and says what to do instead."""

from __future__ import annotations

from warden.errors import UsageError, WardenError

__all__ = ["DocumentRefused", "NoPrincipal", "NotFound", "PolicyMismatch", "RunRefused", "UnknownFinding"]


class RunRefused(WardenError):
    """The decision or request may not be carried out (wrong role, already decided, ...)."""

    code = "refused"


class NotFound(UsageError):
    """No such run, or one the caller may not see: both answer alike, so ids leak nothing."""

    code = "unknown_run"

    def __init__(self, run_id: str) -> None:
        super().__init__(f"no run '{run_id}'", fix="list the runs you can see with `warden runs`")


class UnknownFinding(UsageError):
    """No such finding in any run the caller may see: another tenant's finding answers alike."""

    code = "unknown_finding"

    def __init__(self, finding_id: str) -> None:
        super().__init__(
            f"no finding '{finding_id}'", fix="list a run's findings with `warden findings RUN --json`"
        )


class NoPrincipal(UsageError):
    """Nothing is shown or done for nobody."""

    code = "no_principal"


class PolicyMismatch(WardenError):
    """A policy other than the one in force (or the one the run is bound to) was presented."""

    code = "policy_mismatch"


class DocumentRefused(WardenError):
    """A document outside the tenant's document roots (or of a kind Warden does not read)."""

    code = "document_outside_roots"
