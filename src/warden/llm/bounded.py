"""An HTTP client for the chat model that stops reading a reply once it is longer than any
answer the endpoint was allowed to send.

The seam refuses a reply longer than ``max_output_tokens`` could produce, but only after the
client has read and parsed all of it: a hostile or broken endpoint (or a proxy in between)
could make one call hold hundreds of megabytes. A response hook wraps the body's stream before
it is read, so reading stops at the cap (or before it starts, when ``Content-Length`` already
says too much) and the seam classifies the call as ``bad_output``. A hook, not a transport:
the client keeps honouring the proxy settings of the environment.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx

__all__ = ["ReplyTooLarge", "body_limit", "capped_client"]

BYTES_PER_TOKEN = 16 * 12
"""The most HTTP-body bytes one output token can need: the seam's 16 characters a token, each
escaped in JSON as at most 12 bytes (an astral character as two ``\\uXXXX`` escapes)."""

ENVELOPE_BYTES = 1 << 20
"""Room for everything around the answer: ids, usage, logprobs a server adds unasked."""


class ReplyTooLarge(Exception):
    """The endpoint's reply body passed the cap; the rest was not read."""

    def __init__(self, limit: int, declared: int | None = None) -> None:
        said = f" (Content-Length {declared:,})" if declared is not None else ""
        super().__init__(
            f"the endpoint's reply body is longer than the {limit:,} bytes its max_output_tokens "
            f"allow{said}; reading stopped there"
        )
        self.limit = limit


def body_limit(max_output_tokens: int) -> int:
    """The cap on one reply's body for a model allowed ``max_output_tokens``."""
    return BYTES_PER_TOKEN * max_output_tokens + ENVELOPE_BYTES


class _CappedStream(httpx.SyncByteStream):
    def __init__(self, inner: httpx.SyncByteStream, limit: int) -> None:
        self._inner, self._limit = inner, limit

    def __iter__(self) -> Iterator[bytes]:
        seen = 0
        for chunk in self._inner:
            seen += len(chunk)
            if seen > self._limit:
                raise ReplyTooLarge(self._limit)
            yield chunk

    def close(self) -> None:
        self._inner.close()


def capped_client(limit: int, *, timeout: float | None) -> httpx.Client:
    """A client whose responses raise :class:`ReplyTooLarge` once ``limit`` bytes are passed."""

    def cap(response: httpx.Response) -> None:
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            response.close()
            raise ReplyTooLarge(limit, int(declared))
        if isinstance(response.stream, httpx.SyncByteStream):
            response.stream = _CappedStream(response.stream, limit)

    return httpx.Client(timeout=timeout, event_hooks={"response": [cap]})
