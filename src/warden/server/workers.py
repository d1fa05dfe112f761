"""Background workers: the graph runs in a small bounded pool of threads inside the server.

A request that starts an analysis or carries out a decision records what it must (the run, the
claim) and answers at once; the pool drives the graph on the same state directory. A run whose
server dies before or while its worker drives it is `running`; the next server resumes it at
start-up (server/orphans.py).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from warden.errors import WardenError
from warden.graph.engine import Outcome

__all__ = ["Workers"]

log = logging.getLogger("warden.server.workers")


class Workers:
    """At most `size` graph invocations at once; later ones queue."""

    def __init__(self, size: int = 2) -> None:
        self.size = size
        self._pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="warden-worker")
        self._jobs: dict[str, Future[Outcome]] = {}
        self._lock = threading.Lock()

    def submit(self, key: str, job: Callable[[], Outcome]) -> Future[Outcome]:
        """Run `job` in the pool; `key` (a run id) lets a request wait for it briefly."""
        future = self._pool.submit(self._run, key, job)
        with self._lock:
            self._jobs[key] = future
        return future

    @staticmethod
    def _run(key: str, job: Callable[[], Outcome]) -> Outcome:
        try:
            return job()
        except WardenError as exc:  # recorded on the run by the service and the graph
            log.warning("background work on %s stopped: %s (%s)", key, exc.message, exc.code)
            raise
        except Exception:
            log.exception("background work on %s failed", key)
            raise

    def wait(self, key: str, seconds: float) -> None:
        """Wait up to `seconds` for the job of `key` (if any) to finish; never raises its error."""
        with self._lock:
            future = self._jobs.get(key)
        if future is None or seconds <= 0:
            return
        try:
            future.exception(timeout=seconds)
        except FutureTimeout:
            return
        finally:
            with self._lock:
                if future.done() and self._jobs.get(key) is future:
                    del self._jobs[key]

    def busy(self) -> int:
        with self._lock:
            return sum(1 for f in self._jobs.values() if not f.done())

    def shutdown(self) -> None:
        """Finish what is running; what has not started stays recorded (`running`) and the next
        server resumes it at start-up."""
        self._pool.shutdown(wait=True, cancel_futures=True)
