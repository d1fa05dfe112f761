"""The run tree's time cap bounds a step's retries (``call_with_retries(deadline=...)``): each
attempt's timeout is cut to the time left, no backoff is slept past the deadline, and a retry
the cost cap does not allow is not made (``may_retry``)."""

from __future__ import annotations

import time

import pytest

from warden.errors import WardenError
from warden.graph.executor import RetriesCutShort, StepTimeout, call_with_retries
from warden.schemas.runbook import RetryPolicy


class Clock:
    """A clock that a backoff's sleep moves on (attempts take no time on it)."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def failing(calls: list[int]):
    def fn(attempt: int) -> str:
        calls.append(attempt)
        raise RuntimeError(f"attempt {attempt}")

    return fn


def test_a_backoff_that_would_reach_the_deadline_is_not_slept_and_the_retries_stop() -> None:
    clock, calls = Clock(), []
    retry = RetryPolicy(max_attempts=3, backoff_s=2, retry_on=["error"])
    with pytest.raises(
        RetriesCutShort, match=r"after attempt 1 of 3 \(a 2s backoff with 1\.5s left\)"
    ) as caught:
        call_with_retries(failing(calls), retry, None, deadline=clock() + 1.5, sleep=clock.sleep, clock=clock)
    assert calls == [1] and clock.slept == []
    assert caught.value.capped and caught.value.attempt == 1
    assert isinstance(caught.value.last, RuntimeError) and "attempt 1" in str(caught.value)


def test_backoffs_that_fit_before_the_deadline_are_slept_and_the_one_that_does_not_is_cut() -> None:
    clock, calls = Clock(), []
    retry = RetryPolicy(max_attempts=5, backoff_s=1, backoff_multiplier=2, retry_on=["error"])
    with pytest.raises(RetriesCutShort, match="after attempt 3 of 5"):
        call_with_retries(failing(calls), retry, None, deadline=clock() + 5, sleep=clock.sleep, clock=clock)
    # 1 s and 2 s fit in 5 s; the 4 s backoff after the third attempt would pass the deadline
    assert calls == [1, 2, 3] and clock.slept == [1, 2]


def test_without_a_deadline_the_policy_runs_as_before() -> None:
    clock, calls = Clock(), []
    retry = RetryPolicy(max_attempts=3, backoff_s=2, retry_on=["error"])
    with pytest.raises(RuntimeError, match="attempt 3"):
        call_with_retries(failing(calls), retry, None, sleep=clock.sleep, clock=clock)
    assert calls == [1, 2, 3] and clock.slept == [2, 4]


def test_an_attempts_timeout_is_capped_at_the_time_left() -> None:
    calls: list[int] = []

    def hangs(attempt: int) -> str:
        calls.append(attempt)
        time.sleep(2)
        return "late"

    started = time.monotonic()
    with pytest.raises(StepTimeout) as caught:
        call_with_retries(hangs, RetryPolicy(), 30, deadline=time.monotonic() + 0.2)
    took = time.monotonic() - started
    assert caught.value.capped and not isinstance(caught.value, RetriesCutShort)
    assert calls == [1] and took < 1.0, f"the attempt ran {took:.2f}s past a 0.2s deadline"


def test_a_capped_attempt_that_times_out_ends_the_retries_without_another_attempt() -> None:
    calls: list[int] = []

    def hangs(attempt: int) -> str:
        calls.append(attempt)
        time.sleep(2)
        return "late"

    retry = RetryPolicy(max_attempts=3, backoff_s=0, retry_on=["timeout"])
    started = time.monotonic()
    with pytest.raises(RetriesCutShort, match=r"after attempt 1 of 3 \(no time left\)") as caught:
        call_with_retries(hangs, retry, 30, deadline=time.monotonic() + 0.2)
    took = time.monotonic() - started
    assert isinstance(caught.value.last, StepTimeout)
    assert calls == [1] and took < 1.0, f"the retries ran {took:.2f}s past a 0.2s deadline"


def test_the_steps_own_timeout_is_not_taken_for_the_caps() -> None:
    def hangs(attempt: int) -> str:
        time.sleep(1)
        return "late"

    with pytest.raises(StepTimeout) as caught:
        call_with_retries(hangs, RetryPolicy(), 0.05, deadline=time.monotonic() + 60)
    assert not caught.value.capped


def test_a_retry_the_cost_cap_refuses_is_not_made_nor_backed_off() -> None:
    clock, calls, asked = Clock(), [], []

    def may_retry() -> None:
        asked.append(len(calls))
        if len(calls) == 2:
            raise WardenError("no money left", code="budget_exceeded")

    retry = RetryPolicy(max_attempts=5, backoff_s=1, retry_on=["error"])
    with pytest.raises(WardenError, match="no money left"):
        call_with_retries(failing(calls), retry, None, may_retry=may_retry, sleep=clock.sleep, clock=clock)
    assert calls == [1, 2] and asked == [1, 2] and clock.slept == [1]


def test_no_time_left_at_the_first_attempt_is_a_capped_timeout() -> None:
    calls: list[int] = []
    with pytest.raises(StepTimeout) as caught:
        call_with_retries(failing(calls), RetryPolicy(), None, deadline=time.monotonic() - 1)
    assert caught.value.capped and calls == []
