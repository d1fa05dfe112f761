"""The service's refusals: each has a code and says what to do instead."""

from __future__ import annotations

from pydantic import ValidationError

from warden.errors import UsageError, WardenError

__all__ = [
    "BadCredentials",
    "DocumentRefused",
    "HostAlive",
    "NoPrincipal",
    "NotFound",
    "PolicyMismatch",
    "RunOnOtherHost",
    "RunRefused",
    "RunTakenOver",
    "SignInThrottled",
    "UnknownFinding",
    "UploadRefused",
    "invalid_input",
]


class RunRefused(WardenError):
    """The decision or request may not be carried out (wrong role, already decided, ...)."""

    code = "refused"


class RunOnOtherHost(WardenError):
    """On a ledger several hosts share, a tree whose checkpoints are on another host: resuming it
    here would run it a second time from its request (an administrator may take it over when
    that host is gone for good)."""

    code = "run_on_other_host"


class RunTakenOver(WardenError):
    """A drive whose tree an administrator took over to another host while it ran (this host
    was silent: a paused process, a partition that healed): it stops, having written nothing
    after the take-over, since two drivers would write one tree."""

    code = "run_taken_over"


class HostAlive(WardenError):
    """A take-over of a tree whose host is alive: one of its processes recorded a heartbeat in
    the ledger within its liveness window (service/liveness.py). Taking the tree over would
    drive it on two hosts."""

    code = "host_alive"


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


class BadCredentials(WardenError):
    """A password, token or session that does not authenticate anyone: one answer for an unknown
    user, a wrong password, an expired, revoked or unknown token, so none of them is told apart."""

    code = "bad_credentials"

    def __init__(
        self, message: str = "the credentials do not authenticate a user of the policy in force"
    ) -> None:
        super().__init__(
            message, fix="sign in again, or ask the operator for a new token (`warden users token`)"
        )


class SignInThrottled(WardenError):
    """Too many failed sign-ins for one user from one client: wait, whatever the password."""

    code = "sign_in_throttled"


class UploadRefused(UsageError):
    """An upload that is too large, empty, or not a document Warden reads; nothing was stored."""

    code = "upload_refused"


def invalid_input(exc: ValidationError, what: str, *, fix: str, limit: int = 5) -> UsageError:
    """A user's input a model refused, as a coded usage error (`invalid_request`): each field
    and what is wrong with it, never the value sent (it may be a password or a document)."""
    said = []
    for error in exc.errors()[:limit]:
        where = ".".join(str(part) for part in error.get("loc") or ())
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        said.append(f"{where}: {message}" if where else message)
    more = len(exc.errors()) - limit
    listed = "; ".join(said) + (f"; and {more} more" if more > 0 else "")
    return UsageError(f"invalid {what}: {listed}", fix=fix, code="invalid_request")
