"""Classifying what a chat model raised, and how long to wait before trying again."""

from __future__ import annotations

from dataclasses import dataclass

from warden.credentials import scrub
from warden.llm.bounded import CallTooSlow, ReplyTooLarge
from warden.llm.errors import TRANSIENT, FailureKind

__all__ = ["Failure", "ReplayedFailure", "backoff_s", "classify"]


class ReplayedFailure(Exception):
    """A failure recorded during the original run, raised again by the replaying model."""

    def __init__(self, kind: FailureKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Failure:
    """One failed attempt: its kind, a one-line message and the server's Retry-After, if any."""

    kind: FailureKind
    message: str
    retry_after_s: float | None = None

    @property
    def transient(self) -> bool:
        return self.kind in TRANSIENT


def _retry_after(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    raw = headers.get("retry-after") if headers is not None else None
    try:
        return max(0.0, float(raw)) if raw is not None else None
    except ValueError:  # an HTTP date: not worth parsing, the exponential backoff applies
        return None


def _first_line(exc: BaseException) -> str:
    """The message's first line, credentials masked: the client quotes URLs and servers echo
    headers, and this text becomes step errors, run reasons and `warden doctor` output."""
    text = str(getattr(exc, "message", None) or exc) or type(exc).__name__
    return scrub(text.strip().splitlines()[0])[:500]


def _cause(exc: BaseException, kind: type[BaseException]) -> BaseException | None:
    """``exc`` or the first exception of ``kind`` in the chain that caused it."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def classify(exc: BaseException) -> Failure:
    """Map an exception from openai, langchain-core or the replayer to a failure kind."""
    if isinstance(exc, ReplayedFailure):
        return Failure(exc.kind, scrub(str(exc)))
    import openai
    from langchain_core import exceptions as lc

    too_slow = _cause(exc, CallTooSlow)
    if too_slow is not None:  # the call's deadline, whether or not the client wrapped it
        return Failure("timeout", _first_line(too_slow))
    oversized = _cause(exc, ReplyTooLarge)
    if oversized is not None:  # the client wraps it (openai: APIConnectionError)
        return Failure("bad_output", _first_line(oversized))
    message = _first_line(exc)
    kinds: tuple[tuple[tuple[type[BaseException], ...], FailureKind], ...] = (
        ((openai.RateLimitError, lc.ModelRateLimitError), "rate_limited"),
        ((openai.APITimeoutError, lc.ModelTimeoutError, TimeoutError), "timeout"),
        ((openai.APIConnectionError, lc.ModelConnectionError, ConnectionError), "connection"),
        ((openai.InternalServerError, lc.ModelAPIError), "server_error"),
        ((openai.AuthenticationError, openai.PermissionDeniedError, lc.ModelAuthenticationError), "auth"),
        ((lc.ModelPermissionDeniedError,), "auth"),
        ((openai.NotFoundError, lc.ModelNotFoundError), "not_found"),
        (
            (openai.BadRequestError, openai.UnprocessableEntityError, lc.ModelInvalidRequestError),
            "bad_request",
        ),
    )
    for types, kind in kinds:
        if isinstance(exc, types):
            return Failure(kind, message, _retry_after(exc))
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        kind = "server_error" if status >= 500 else "rate_limited" if status == 429 else "bad_request"
        return Failure(kind, message, _retry_after(exc))
    return Failure("other", f"{type(exc).__name__}: {message}")


def backoff_s(attempt: int, failure: Failure, *, base_s: float, max_s: float) -> float:
    """Exponential backoff (base, 2×base, 4×base, ...), or the server's Retry-After; capped."""
    wait = failure.retry_after_s if failure.retry_after_s is not None else base_s * 2 ** (attempt - 1)
    return min(wait, max_s)
