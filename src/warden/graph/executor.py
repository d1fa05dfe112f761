"""Calling an analyser under a timeout with the step's retry policy.

Python cannot kill a thread: a timed-out analyser is abandoned (its result discarded) and the
step fails or retries. Analysers are read-only by manifest, but an abandoned one could still
spend (book a cost, call a model) after its step or run has ended, and a retry's budget check
would not see what it spends. So each attempt has an :class:`Attempt` token: it is closed when
the attempt ends (returned, failed or abandoned), and what spends checks it first; spending
already under way when it closes (a model call sent) is waited for, at most
:data:`SETTLE_S`, before the step retries or ends, so it is booked while the step still runs.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import itertools
import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, wait
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from warden.errors import WardenError
from warden.schemas.runbook import RetryPolicy

__all__ = [
    "SETTLE_S",
    "Attempt",
    "AttemptOver",
    "RetriesCutShort",
    "StepTimeout",
    "call_with_retries",
    "call_with_timeout",
]

SETTLE_S = 30.0
"""How long a step waits, after abandoning an attempt, for the spending that attempt had under
way (a model call already sent: the provider bills it) to finish and be booked. Spending still
running after this is booked when it ends; a model call's most possible cost stays reserved
against the tree's cost cap until then (``warden.graph.llm_steps``)."""


class AttemptOver(WardenError):
    """Spending refused: the attempt it belongs to has ended (timed out and abandoned, or
    returned), so nothing it does may be booked to the run or call a model any more."""

    code = "attempt_over"

    def __init__(self, what: str) -> None:
        super().__init__(
            f"{what} refused: the step's attempt has ended (timed out and abandoned, or returned)",
            fix="an analyser must finish its spending before it returns, and within its timeout_s",
        )


class Attempt:
    """The cancellation token of one attempt at a step.

    :meth:`spending` brackets one piece of spending (a model call and its booking, a cost
    recorded): refused once the token is closed, and counted while it runs, so the executor can
    :meth:`settle` (wait for it) after closing the token. ``reserved_usd`` is the most the
    spending still under way in a closed attempt could cost: the cost cap counts it until it is
    booked."""

    def __init__(self) -> None:
        self._closed = threading.Event()
        self._busy = threading.Condition()
        self._spending: dict[int, float] = {}
        self._ids = itertools.count()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def close(self) -> None:
        self._closed.set()

    @contextlib.contextmanager
    def spending(self, what: str, most_usd: float = 0.0) -> Iterator[None]:
        """Run one piece of spending; AttemptOver (before it starts) once the attempt is closed."""
        with self._busy:
            if self._closed.is_set():
                raise AttemptOver(what)
            key = next(self._ids)
            self._spending[key] = max(most_usd, 0.0)
        try:
            yield
        finally:
            with self._busy:
                del self._spending[key]
                self._busy.notify_all()

    def reserved_usd(self) -> float:
        """The most the spending under way could cost, once the attempt is closed (0 before: a
        live attempt's calls are checked against the cap by its own session)."""
        if not self._closed.is_set():
            return 0.0
        with self._busy:
            return sum(self._spending.values())

    def settle(self, timeout_s: float) -> bool:
        """Wait (at most `timeout_s`) until no spending is under way; whether none is."""
        with self._busy:
            return self._busy.wait_for(lambda: not self._spending, timeout=max(timeout_s, 0.0))


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


def call_with_timeout(fn: Callable[[], Any], timeout_s: float | None, attempt: Attempt | None = None) -> Any:
    """``fn()``, abandoned after `timeout_s`; a timeout longer than a thread can wait (inf, 1e10,
    which runbooks and policies may hold) is no timeout: waiting on it raised OverflowError.

    `attempt` (the token ``fn`` spends under) is closed when the call returns, fails or is
    abandoned; when abandoned, the spending it has under way is waited for (:data:`SETTLE_S`)."""
    if timeout_s is None or timeout_s >= threading.TIMEOUT_MAX:
        try:
            return fn()
        finally:
            if attempt is not None:
                attempt.close()
    future: Future[Any] = Future()
    with _IN_FLIGHT_LOCK:
        _IN_FLIGHT.add(future)
    future.add_done_callback(_forget)
    _worker().calls.put((fn, future))
    try:
        return future.result(timeout=max(timeout_s, 0.001))
    except FutureTimeout:
        if attempt is not None:
            attempt.close()
            attempt.settle(SETTLE_S)
        raise StepTimeout(f"no result within {timeout_s:g}s") from None
    finally:
        if attempt is not None:
            attempt.close()


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
    token: Callable[[int], Attempt] | None = None,
) -> Any:
    """Call ``fn(attempt)`` until it succeeds or the policy gives up; re-raises the last error.

    `deadline` (on `clock`'s scale; the run tree's time cap) bounds the whole: each attempt's
    timeout is cut to the time left (its :class:`StepTimeout` is then `capped`), and a retry
    whose backoff would reach the deadline, or that would start with no time left, is not made:
    :class:`RetriesCutShort` is raised instead. `may_retry` is asked before each retry (before
    its backoff) and may raise to stop the retries (the tree's cost cap). `token` makes attempt
    n's :class:`Attempt` before it is dispatched (``fn`` spends under it): see
    :func:`call_with_timeout`."""
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
            spends = token(attempt) if token is not None else None
            return call_with_timeout(functools.partial(fn, attempt), limit, spends)
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
