"""Calling an analyser under a timeout with the step's retry policy.

Python cannot kill a thread: a timed-out analyser is abandoned (its result discarded) and the
step fails or retries. Analysers are read-only by manifest, so an abandoned one harms nothing.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from warden.schemas.runbook import RetryPolicy

__all__ = ["StepTimeout", "call_with_retries", "call_with_timeout"]


class StepTimeout(Exception):
    """The analyser did not return within its timeout."""


def call_with_timeout(fn: Callable[[], Any], timeout_s: float | None) -> Any:
    """``fn()``, abandoned after `timeout_s`; a timeout longer than a thread can wait (inf, 1e10,
    which runbooks and policies may hold) is no timeout: waiting on it raised OverflowError."""
    if timeout_s is None or timeout_s >= threading.TIMEOUT_MAX:
        return fn()
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="warden-step")
    future = pool.submit(fn)
    try:
        return future.result(timeout=max(timeout_s, 0.001))
    except FutureTimeout:
        raise StepTimeout(f"no result within {timeout_s:g}s") from None
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def call_with_retries(
    fn: Callable[[int], Any],
    retry: RetryPolicy,
    timeout_s: float | None,
    *,
    on_failure: Callable[[int, BaseException], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Any:
    """Call ``fn(attempt)`` until it succeeds or the policy gives up; re-raises the last error."""
    delay = retry.backoff_s
    for attempt in range(1, retry.max_attempts + 1):
        try:
            return call_with_timeout(functools.partial(fn, attempt), timeout_s)
        except Exception as exc:  # analysers are third-party code: any failure is a step failure
            if on_failure:
                on_failure(attempt, exc)
            kind = "timeout" if isinstance(exc, StepTimeout) else "error"
            # an error that says it was already retried (model calls) is not retried again
            if (
                attempt == retry.max_attempts
                or kind not in retry.retry_on
                or not getattr(exc, "retryable", True)
            ):
                raise
            if delay:
                sleep(delay)
            delay *= retry.backoff_multiplier
    raise AssertionError("unreachable")
