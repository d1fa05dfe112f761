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

from warden.errors import UsageError
from warden.graph.temporal.settings import TemporalSettings
from warden.service import Service
from warden.store.faults import StoreBusy

__all__ = ["run"]


def run(home: Path, settings: TemporalSettings, *, concurrency: int = 1) -> None:
    """Serve the task queue until SIGTERM or SIGINT (in-flight activities are abandoned to be
    retried elsewhere; a SIGKILL is the same to Temporal)."""
    try:
        from warden.graph.temporal.worker import run_worker
    except ImportError as exc:  # the SDK is an extra: the embedded engine does not need it
        raise UsageError(
            f"`warden worker` needs the Temporal SDK, which is not installed ({exc.name})",
            fix="pip install 'warden[temporal]'",
            code="engine_missing",
        ) from None

    service = Service(home)
    service.store.threaded = True  # activities run in threads of this process
    while True:  # no policy, no work: fail now, not per activity; a busy store is waited out
        try:
            service.policies.in_force(may_initialise=False)
            break
        except StoreBusy as exc:
            print(f"warden worker: {exc.message}; waiting", file=sys.stderr, flush=True)

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
