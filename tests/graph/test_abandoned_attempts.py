"""What an attempt may still do once the executor has ended it, and the time a step that died
with its process keeps against the tree's time cap.

The end-to-end attacks are in tests/attacks (test_attacks_recursion.py: a cost booked by an
abandoned analyser, a step SIGKILLed mid-run; test_attacks_llm.py: model calls of timed-out
attempts against the cost cap); these pin the pieces.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

import warden.graph.executor as executor
from warden.graph.executor import Attempt, AttemptOver, StepTimeout, call_with_retries, call_with_timeout
from warden.graph.llm_steps import _SPENDING, _SPENDING_LOCK, reserved_usd
from warden.schemas.runbook import RetryPolicy
from warden.store import Store, runs, steps


def test_an_attempt_is_closed_when_it_returns_and_spends_nothing_after() -> None:
    attempt = Attempt()
    assert call_with_timeout(lambda: 7, 5, attempt) == 7
    assert attempt.closed
    with pytest.raises(AttemptOver) as refused, attempt.spending("a cost"):
        pass
    assert refused.value.code == "attempt_over"


def test_a_timed_out_attempt_is_closed_and_its_spending_under_way_waited_for() -> None:
    """The attempt's model call was sent before the timeout: the provider bills it, so the
    executor waits for it to be booked before the step retries or ends."""
    attempt = Attempt()
    booked: list[float] = []
    started = threading.Event()

    def analyser() -> None:
        with attempt.spending("a model call", 0.05):
            started.set()
            time.sleep(0.4)
            booked.append(0.05)
        time.sleep(5)  # goes on, abandoned

    took = time.monotonic()
    with pytest.raises(StepTimeout):
        call_with_timeout(analyser, 0.1, attempt)
    took = time.monotonic() - took
    assert started.is_set() and attempt.closed
    assert booked == [0.05], "the call under way was booked before the timeout was raised"
    assert 0.3 < took < 3, took


def test_spending_still_under_way_past_the_settle_wait_stays_reserved(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(executor, "SETTLE_S", 0.05)
    attempt = Attempt()
    release = threading.Event()

    def analyser() -> None:
        with attempt.spending("a model call", 0.25):
            release.wait(5)

    assert attempt.reserved_usd() == 0.0  # a live attempt's calls are its own session's to check
    with _SPENDING_LOCK:
        _SPENDING.setdefault("tree", {})[attempt] = 1
    try:
        with pytest.raises(StepTimeout):
            call_with_timeout(analyser, 0.05, attempt)
        assert attempt.reserved_usd() == 0.25
        assert reserved_usd("tree") == 0.25, "the cost cap counts what the call could still cost"
        release.set()
        assert attempt.settle(5)
        assert reserved_usd("tree") == 0.0
    finally:
        release.set()
        with _SPENDING_LOCK:
            _SPENDING.pop("tree", None)


def test_each_retry_is_a_new_attempt_and_the_timed_out_one_is_closed() -> None:
    made: list[Attempt] = []

    def token(n: int) -> Attempt:
        made.append(Attempt())
        return made[-1]

    def fn(n: int) -> str:
        if n == 1:
            time.sleep(1)
        return "ok"

    retry = RetryPolicy(max_attempts=2, retry_on=["timeout"])
    assert call_with_retries(fn, retry, 0.1, token=token) == "ok"
    assert len(made) == 2 and all(a.closed for a in made)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "warden.duckdb", lock_timeout_s=5)
    with s.connect() as con:
        runs.create_run(con, runs.RunRow("root", "root", None, None, 0, "root", None, "acme", "ana@acme"))
    return s


def test_a_running_steps_heartbeat_counts_against_the_trees_time(store: Store) -> None:
    """A step whose process died leaves its row `running`: the time its heartbeat wrote counts
    in the gate's elapsed time; a heartbeat after the step ended changes nothing."""
    gate = dict(tenant="acme", runbook="rb", sha256="a" * 64, run_id="root", root_run_id="root")
    with store.connect() as con:
        steps.start_step(con, "root", "done", kind="analyser", analyser="a", system_id=None)
        steps.finish_step(con, "root", "done", output={}, output_schema=None, duration_s=1.0)
        steps.start_step(con, "root", "dies", kind="analyser", analyser="a", system_id=None)
        steps.beat_step(con, "root", "dies", duration_s=2.5)
    with store.connect(read_only=True) as con:
        assert steps.run_gate(con, **gate).elapsed_s == 3.5
    with store.connect() as con:
        steps.beat_step(con, "root", "done", duration_s=99.0)  # no longer running: left alone
    with store.connect(read_only=True) as con:
        assert steps.run_gate(con, **gate).elapsed_s == 3.5
        assert steps.run_gate(con, **gate).steps["dies"] == ("running", 1)
