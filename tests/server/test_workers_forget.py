"""The server's background workers forget a job once it finished (a long-lived server would
otherwise keep every Outcome), while a request waiting on a job still gets to its end."""

from __future__ import annotations

import threading
import time
from typing import Any

from warden.server.workers import Workers


def _idle(pool: Workers) -> None:
    deadline = time.monotonic() + 10
    while pool.busy() and time.monotonic() < deadline:
        time.sleep(0.01)


def test_a_finished_job_is_forgotten_and_its_future_keeps_the_outcome() -> None:
    pool = Workers(2)
    try:
        futures = [pool.submit(f"run-{n}", lambda n=n: n) for n in range(5)]
        _idle(pool)
        assert pool._jobs == {} and pool.busy() == 0
        assert [f.result(timeout=5) for f in futures] == list(range(5))
        pool.wait("run-1", 5)  # already finished and forgotten: returns at once
    finally:
        pool.shutdown()


def test_a_waiter_sees_the_job_end_and_a_newer_job_of_the_key_stays() -> None:
    pool = Workers(2)
    release_first, release_second = threading.Event(), threading.Event()
    try:
        first = pool.submit("run-1", lambda: release_first.wait(10))
        second = pool.submit("run-1", lambda: release_second.wait(10))
        assert pool.busy() == 2
        release_first.set()
        first.result(timeout=5)
        deadline = time.monotonic() + 5
        while pool.busy() != 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert pool._jobs.get("run-1") is second, "the earlier job's end forgot the newer one"
        waited: list[Any] = []
        waiter = threading.Thread(target=lambda: waited.append(pool.wait("run-1", 10)))
        waiter.start()
        time.sleep(0.1)
        assert waiter.is_alive(), "wait returned before the job ended"
        release_second.set()
        waiter.join(10)
        assert not waiter.is_alive() and second.done()
        _idle(pool)
        assert pool._jobs == {} and pool.busy() == 0
    finally:
        release_first.set()
        release_second.set()
        pool.shutdown()


def test_a_failed_job_is_forgotten_too() -> None:
    pool = Workers(1)
    try:

        def boom() -> Any:
            raise RuntimeError("boom")

        future = pool.submit("run-x", boom)
        pool.wait("run-x", 5)  # never raises the job's error
        assert isinstance(future.exception(timeout=5), RuntimeError)
        _idle(pool)
        assert pool._jobs == {}
    finally:
        pool.shutdown()
