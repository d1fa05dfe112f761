"""Calling an analyser under a timeout with the step's retry policy.

Python cannot kill a thread: a timed-out analyser is abandoned (its result discarded) and the
step fails or retries. Analysers are read-only by manifest, so an abandoned one harms nothing.
"""

from __future__ import annotations

import atexit
import functools
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, wait
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from warden.schemas.runbook import RetryPolicy

__all__ = ["RetriesCutShort", "StepTimeout", "call_with_retries", "call_with_timeout"]


class StepTimeout(Exception):
    """The analyser did not return within its timeout; `capped` when that timeout was the time
    left before the caller's deadline (the run tree's time cap), not the step's own."""

    def __init__(self, message: str, *, capped: bool = False) -> None:
        super().__init__(message)
        self.capped = capped


class RetriesCutShort(StepTimeout):
    """The deadline (the run tree's time cap) ended the retries: an attempt the policy would retry
    failed, and no time was left for its backoff or the next attempt. Always `capped`."""

    def __init__(self, attempt: int, max_attempts: int, why: str, last: BaseException) -> None:
        super().__init__(
            f"the deadline ended the retries after attempt {attempt} of {max_attempts} ({why}); "
            f"last error: {type(last).__name__}: {last}",
            capped=True,
        )
        self.attempt = attempt
        self.why = why
        self.last = last


class _Worker(threading.Thread):
    """A daemon thread that runs one call at a time and then waits, idle, for the next: starting
    a thread (and a pool) for every step cost more than a no-op step's whole graph superstep.
    A call that times out keeps its worker until it returns (it is abandoned, not killed); the
    worker is idle again only then, so a hung analyser never holds up the next step."""

    def __init__(self) -> None:
        super().__init__(name="warden-step", daemon=True)
        self.calls: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = queue.SimpleQueue()

    def run(self) -> None:
        while True:
            fn, future = self.calls.get()
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn())
                except BaseException as exc:  # handed to the caller, as a pool would
                    future.set_exception(exc)
            del fn, future
            with _IDLE_LOCK:
                if len(_IDLE) >= _MAX_IDLE:
                    return
                _IDLE.append(self)


_IDLE: list[_Worker] = []
_IDLE_LOCK = threading.Lock()
_MAX_IDLE = 4
"""Idle workers kept for later steps (several graphs may run at once in a server)."""


def _worker() -> _Worker:
    with _IDLE_LOCK:
        if _IDLE:
            return _IDLE.pop()
    worker = _Worker()
    worker.start()
    return worker


_IN_FLIGHT: set[Future[Any]] = set()
_IN_FLIGHT_LOCK = threading.Lock()
EXIT_WAIT_S = 10.0
"""How long an exiting process waits for calls still running on a worker."""


def _forget(future: Future[Any]) -> None:
    with _IN_FLIGHT_LOCK:
        _IN_FLIGHT.discard(future)


def _at_exit() -> None:
    """Wait (at most :data:`EXIT_WAIT_S`) for calls still running on a worker (abandoned on a
    timeout, or left when Ctrl-C interrupted the wait): the interpreter unwinds daemon threads
    by force at exit, and one inside DuckDB's C++ (an analyser scanning a DuckDB system) turns
    that into an abort (exit 134) of a process whose work is done."""
    with _IN_FLIGHT_LOCK:
        running = list(_IN_FLIGHT)
    if running:
        wait(running, timeout=EXIT_WAIT_S)


atexit.register(_at_exit)


def call_with_timeout(fn: Callable[[], Any], timeout_s: float | None) -> Any:
    """``fn()``, abandoned after `timeout_s`; a timeout longer than a thread can wait (inf, 1e10,
    which runbooks and policies may hold) is no timeout: waiting on it raised OverflowError."""
    if timeout_s is None or timeout_s >= threading.TIMEOUT_MAX:
        return fn()
    future: Future[Any] = Future()
    with _IN_FLIGHT_LOCK:
        _IN_FLIGHT.add(future)
    future.add_done_callback(_forget)
    _worker().calls.put((fn, future))
    try:
        return future.result(timeout=max(timeout_s, 0.001))
    except FutureTimeout:
        raise StepTimeout(f"no result within {timeout_s:g}s") from None


def call_with_retries(
    fn: Callable[[int], Any],
    retry: RetryPolicy,
    timeout_s: float | None,
    *,
    deadline: float | None = None,
    may_retry: Callable[[], None] | None = None,
    on_failure: Callable[[int, BaseException], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Any:
    """Call ``fn(attempt)`` until it succeeds or the policy gives up; re-raises the last error.

    `deadline` (on `clock`'s scale; the run tree's time cap) bounds the whole: each attempt's
    timeout is cut to the time left (its :class:`StepTimeout` is then `capped`), and a retry
    whose backoff would reach the deadline, or that would start with no time left, is not made:
    :class:`RetriesCutShort` is raised instead. `may_retry` is asked before each retry (before
    its backoff) and may raise to stop the retries (the tree's cost cap)."""
    delay = retry.backoff_s
    for attempt in range(1, retry.max_attempts + 1):
        limit, capped = timeout_s, False
        if deadline is not None:
            left = deadline - clock()
            if left <= 0:
                raise StepTimeout("no time left before the deadline", capped=True)
            if limit is None or left < limit:
                limit, capped = left, True
        try:
            return call_with_timeout(functools.partial(fn, attempt), limit)
        except Exception as exc:  # analysers are third-party code: any failure is a step failure
            if isinstance(exc, StepTimeout):
                exc.capped = capped
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
            if deadline is not None:
                left = deadline - clock()
                if (isinstance(exc, StepTimeout) and capped) or left <= 0:
                    raise RetriesCutShort(attempt, retry.max_attempts, "no time left", exc) from exc
                if delay and delay >= left:
                    why = f"a {delay:g}s backoff with {left:.1f}s left"
                    raise RetriesCutShort(attempt, retry.max_attempts, why, exc) from exc
            if may_retry:
                may_retry()
            if delay:
                sleep(delay)
            delay *= retry.backoff_multiplier
    raise AssertionError("unreachable")
