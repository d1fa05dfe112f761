"""A Temporal worker process: polls the task queue for run-tree workflows and node activities."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from temporalio.client import Client
from temporalio.worker import Worker

from warden.graph.temporal.activities import ContextFor, NodeActivities
from warden.graph.temporal.settings import TemporalSettings
from warden.graph.temporal.workflow import RunWorkflow
from warden.store import Store

__all__ = ["run_worker"]


async def run_worker(
    settings: TemporalSettings,
    context_for: ContextFor,
    *,
    store: Store | None = None,
    concurrency: int = 1,
    identity: str | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Run until `stop` is set (or the task is cancelled). `concurrency` activities at once: the
    DuckDB ledger takes one writer at a time, so more processes scale better than more threads."""
    client = await Client.connect(settings.address, namespace=settings.namespace)
    acts = NodeActivities(context_for, store=store)
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="warden-activity") as pool:
        worker = Worker(
            client,
            task_queue=settings.task_queue,
            workflows=[RunWorkflow],
            activities=acts.all(),
            activity_executor=pool,
            max_concurrent_activities=concurrency,
            identity=identity,
        )
        async with worker:
            await (stop.wait() if stop is not None else asyncio.Event().wait())
