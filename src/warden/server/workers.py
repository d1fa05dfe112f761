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
        """The latest unfinished job of each key: what :meth:`wait` waits for. A job leaves it
        as it finishes (a long-lived server would otherwise keep every Outcome it ever drove)."""
        self._pending: set[Future[Outcome]] = set()
        """Every unfinished job, a key's earlier one too (for :meth:`busy`)."""
        self._lock = threading.Lock()

    def submit(self, key: str, job: Callable[[], Outcome]) -> Future[Outcome]:
        """Run `job` in the pool; `key` (a run id) lets a request wait for it briefly. The
        returned Future keeps the job's outcome for whoever holds it; the pool forgets it once
        it finished."""
        future = self._pool.submit(self._run, key, job)
        with self._lock:
            self._jobs[key] = future
            self._pending.add(future)
        # outside the lock: a job that already finished runs the callback here, at once
        future.add_done_callback(lambda done: self._forget(key, done))
        return future

    def _forget(self, key: str, future: Future[Outcome]) -> None:
        """Drop a finished job; a later job of the same key (submitted meanwhile) stays."""
        with self._lock:
            self._pending.discard(future)
            if self._jobs.get(key) is future:
                del self._jobs[key]

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
        """Wait up to `seconds` for the job of `key` (if any) to finish; never raises its error.
        A job that already finished (and was forgotten) has nothing left to wait for: this
        returns at once, as for a key never submitted."""
        with self._lock:
            future = self._jobs.get(key)  # held here: its finishing may forget it meanwhile
        if future is None or seconds <= 0:
            return
        try:
            future.exception(timeout=seconds)
        except FutureTimeout:
            return

    def busy(self) -> int:
        """Jobs submitted and not finished (running or queued)."""
        with self._lock:
            return len(self._pending)

    def shutdown(self) -> None:
        """Finish what is running; what has not started stays recorded (`running`) and the next
        server resumes it at start-up."""
        self._pool.shutdown(wait=True, cancel_futures=True)
