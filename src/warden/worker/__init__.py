"""`warden worker`: an entry point like the server. It builds the service over the state
directory and runs a Temporal worker whose activities take their context from it (the bound
policy of each run, the live kill switch); run any number of them."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

from warden.graph.temporal.settings import TemporalSettings
from warden.service import Service
from warden.service.engines import temporal_sdk_missing
from warden.store.faults import StoreBusy

__all__ = ["run"]

STARTUP_LOCK_WAIT_S = 5.0
"""How long a starting worker waits for the DuckDB file to check the policy in force."""


def run(home: Path, settings: TemporalSettings, *, concurrency: int = 1) -> None:
    """Serve the task queue until SIGTERM or SIGINT (in-flight activities are abandoned to be
    retried elsewhere; a SIGKILL is the same to Temporal)."""
    try:
        from warden.graph.temporal.worker import run_worker
    except ImportError as exc:  # the SDK is an extra: the embedded engine does not need it
        raise temporal_sdk_missing("`warden worker`", exc) from None

    service = Service(home)
    service.store.threaded = True  # activities run in threads of this process
    service.long_lived("worker")  # the file lingers between activities; on a shared ledger, heartbeats
    lock_timeout_s = service.store.lock_timeout_s
    # no policy, no work: fail now, not per activity. A store busy for a few seconds does not
    # delay polling: queries need no store, and each activity waits for the file its turn
    service.store.lock_timeout_s = STARTUP_LOCK_WAIT_S
    try:
        service.policies.in_force(may_initialise=False)
    except StoreBusy as exc:
        print(f"warden worker: {exc.message}; polling anyway", file=sys.stderr, flush=True)
    service.store.lock_timeout_s = lock_timeout_s

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run_worker(
            settings,
            service.run_context,
            store=service.store,
            concurrency=concurrency,
            identity=f"warden-worker@{socket.gethostname()}:{os.getpid()}",
            stop=stop,
        )

    asyncio.run(main())
