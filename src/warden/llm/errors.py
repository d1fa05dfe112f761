"""Coded errors of the LLM layer: what failed at the endpoint, and how to carry on without it.

Every one is a :class:`~warden.errors.WardenError`, so the CLI prints a message and a fix
instead of a traceback. ``retryable = False`` tells the step executor not to retry the step:
the seam has already retried what was worth retrying.
"""

from __future__ import annotations

from typing import Literal

from warden.credentials import scrub
from warden.errors import WardenError

__all__ = ["BudgetExceeded", "FailureKind", "LlmError", "ReplayMissing"]

FailureKind = Literal[
    "rate_limited",
    "server_error",
    "timeout",
    "connection",
    "auth",
    "bad_request",
    "not_found",
    "bad_output",
    "refused",
    "other",
]
"""Why a model call failed, as the seam classifies it.

- ``rate_limited``: HTTP 429; retried with backoff, honouring Retry-After.
- ``server_error``: HTTP 5xx; retried with backoff.
- ``timeout``: no response within the configured timeout; retried.
- ``connection``: the endpoint could not be reached; retried.
- ``auth``: HTTP 401/403, a missing or wrong API key; not retried.
- ``bad_request``: HTTP 400/422, e.g. a structured-output format the endpoint rejects; not retried.
- ``not_found``: HTTP 404, usually an unknown model name or a wrong base URL; not retried.
- ``bad_output``: the model answered, but not with valid output (after the bounded re-asks).
- ``refused``: the call may not be made (no model for the tenant, a missing recording).
- ``other``: anything else the client raised; not retried.
"""

TRANSIENT: frozenset[str] = frozenset({"rate_limited", "server_error", "timeout", "connection"})


class LlmError(WardenError):
    """A model call failed for a reason the user can act on."""

    code = "llm_error"
    retryable = False

    def __init__(
        self,
        message: str,
        *,
        kind: FailureKind = "other",
        fix: str | None = None,
        code: str | None = None,
        attempts: int = 0,
    ) -> None:
        # the message names the endpoint and quotes the client: masked here, so the error (and the
        # run reason and checkpoint made from it) never carries a password or key
        super().__init__(scrub(message), fix=scrub(fix) if fix else fix, code=code or f"llm_{kind}")
        self.kind = kind
        self.attempts = attempts


class BudgetExceeded(LlmError):
    """The run tree's cost cap does not leave room for a call, or a call used it up."""

    code = "budget_exceeded"

    def __init__(self, message: str) -> None:
        super().__init__(
            message,
            kind="refused",
            code="budget_exceeded",
            fix="raise max_cost_usd in the runbook or policy, lower max_output_tokens, or plan offline",
        )


class ReplayMissing(LlmError):
    """Replay asked for a response that was never recorded (the run diverged from the recording)."""

    def __init__(self, message: str) -> None:
        super().__init__(
            message,
            kind="refused",
            code="replay_missing",
            fix="replay only runs recorded with the same inputs, policy and analysers; "
            "run it live instead (`warden analyse`)",
        )
