"""An HTTP client for the chat model that stops reading a reply once it is longer than any
answer the endpoint was allowed to send, or once the call has taken longer than ``timeout_s``.

The seam refuses a reply longer than ``max_output_tokens`` could produce, but only after the
client has read and parsed all of it: a hostile or broken endpoint (or a proxy in between)
could make one call hold hundreds of megabytes. A response hook wraps the body's stream before
it is read, so reading stops at the cap (or before it starts, when ``Content-Length`` already
says too much) and the seam classifies the call as ``bad_output``. A hook, not a transport:
the client keeps honouring the proxy settings of the environment.

httpx's timeout bounds each read, not the call: an endpoint that sends a few bytes every
``timeout_s - ε`` would hold one call (and its step's worker) for hours. The same hooks give
each request a deadline, ``timeout_s`` after it was sent; the body stream checks it at every
chunk and the response hook when the headers arrive, and past it raise :class:`CallTooSlow`,
which the seam classifies as ``timeout``. So a call ends within ``timeout_s`` plus at most one
read (itself bounded by ``timeout_s``). Residual: headers dripped a byte at a time are checked
only once they are complete (httpcore caps them at 100 KB).

The hooks also note, for the seam, that the endpoint answered 2xx (:func:`exchange`): a call
that fails after that (a reply the client cannot parse, cut at the cap or the deadline) used
the endpoint's tokens, and the seam books the most it could have cost instead of nothing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import httpx

__all__ = ["CallTooSlow", "Exchange", "ReplyTooLarge", "body_limit", "capped_client", "exchange"]

BYTES_PER_TOKEN = 16 * 12
"""The most HTTP-body bytes one output token can need: the seam's 16 characters a token, each
escaped in JSON as at most 12 bytes (an astral character as two ``\\uXXXX`` escapes)."""

ENVELOPE_BYTES = 1 << 20
"""Room for everything around the answer: ids, usage, logprobs a server adds unasked."""

_DEADLINE = "warden.deadline"
"""The request extension holding the request's deadline (``time.monotonic()``); httpcore
ignores extensions it does not know."""


class ReplyTooLarge(Exception):
    """The endpoint's reply body passed the cap; the rest was not read."""

    def __init__(self, limit: int, declared: int | None = None) -> None:
        said = f" (Content-Length {declared:,})" if declared is not None else ""
        super().__init__(
            f"the endpoint's reply body is longer than the {limit:,} bytes its max_output_tokens "
            f"allow{said}; reading stopped there"
        )
        self.limit = limit


class CallTooSlow(httpx.ReadTimeout):
    """The endpoint had not sent its whole reply ``timeout_s`` after the request; the rest was not
    read. An httpx timeout, so the openai client raises it as ``APITimeoutError``."""

    def __init__(self, timeout_s: float, request: httpx.Request) -> None:
        super().__init__(
            f"the endpoint had not sent its whole reply {timeout_s:g}s (timeout_s) after the request; "
            "reading stopped there",
            request=request,
        )
        self.timeout_s = timeout_s


@dataclass
class Exchange:
    """What the HTTP client saw during one model call: the status of the last response."""

    status: int | None = None

    @property
    def answered(self) -> bool:
        """The endpoint answered 2xx: it has done the work, whatever happens to the body next."""
        return self.status is not None and 200 <= self.status < 300


_exchange: ContextVar[Exchange | None] = ContextVar("warden_llm_exchange", default=None)


@contextmanager
def exchange() -> Iterator[Exchange]:
    """Note what the capped clients see in this context (the seam wraps one model call in it)."""
    seen = Exchange()
    token = _exchange.set(seen)
    try:
        yield seen
    finally:
        _exchange.reset(token)


def body_limit(max_output_tokens: int) -> int:
    """The cap on one reply's body for a model allowed ``max_output_tokens``."""
    return BYTES_PER_TOKEN * max_output_tokens + ENVELOPE_BYTES


class _CappedStream(httpx.SyncByteStream):
    """The body, read up to ``limit`` bytes and until ``deadline`` (monotonic; None: none)."""

    def __init__(
        self,
        inner: httpx.SyncByteStream,
        limit: int,
        *,
        deadline: float | None = None,
        timeout_s: float = 0.0,
        request: httpx.Request | None = None,
    ) -> None:
        self._inner, self._limit = inner, limit
        self._deadline, self._timeout_s, self._request = deadline, timeout_s, request

    def __iter__(self) -> Iterator[bytes]:
        seen = 0
        for chunk in self._inner:
            seen += len(chunk)
            if seen > self._limit:
                raise ReplyTooLarge(self._limit)
            if self._deadline is not None and time.monotonic() > self._deadline:
                assert self._request is not None
                raise CallTooSlow(self._timeout_s, self._request)
            yield chunk

    def close(self) -> None:
        self._inner.close()


def capped_client(limit: int, *, timeout: float | None) -> httpx.Client:
    """A client whose responses raise :class:`ReplyTooLarge` once ``limit`` bytes are passed and
    :class:`CallTooSlow` once ``timeout`` seconds have passed since the request was sent."""

    def start(request: httpx.Request) -> None:
        if timeout is not None:
            request.extensions[_DEADLINE] = time.monotonic() + timeout

    def cap(response: httpx.Response) -> None:
        seen = _exchange.get()
        if seen is not None:
            seen.status = response.status_code
        request = response.request
        deadline = request.extensions.get(_DEADLINE)
        if deadline is not None and time.monotonic() > deadline:
            response.close()
            raise CallTooSlow(timeout or 0.0, request)
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            response.close()
            raise ReplyTooLarge(limit, int(declared))
        if isinstance(response.stream, httpx.SyncByteStream):
            response.stream = _CappedStream(
                response.stream, limit, deadline=deadline, timeout_s=timeout or 0.0, request=request
            )

    return httpx.Client(timeout=timeout, event_hooks={"request": [start], "response": [cap]})
