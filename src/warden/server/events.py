"""Live progress of a run tree as server-sent events (the run page's static/live.js reads them).

Each event is the tree's statuses, costs, timings and step statuses as JSON (`progress`), sent
when it changes; `settled` ends the stream once the tree finished or waits for an approval. The
stream also ends after :data:`MAX_STREAM_S` (the browser reconnects) or when the client goes.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from warden.server.identity import page_session, service_of
from warden.server.views import progress_snapshot
from warden.service import NoPrincipal

__all__ = ["MAX_STREAM_S", "POLL_S", "router"]

router = APIRouter(include_in_schema=False)
POLL_S = 0.5
MAX_STREAM_S = 300.0
HEARTBEAT_S = 15.0


def _event(name: str, data: object) -> str:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


@router.get("/runs/{run_id}/events")
async def run_events(request: Request, run_id: str) -> Response:
    session = page_session(request)
    if session is None:  # an EventSource follows no redirect: a coded 401 instead
        raise NoPrincipal("sign in first: the live view needs a session", fix="sign in at /sign-in")
    p = session.principal
    service = service_of(request)
    nodes = await run_in_threadpool(service.tree, p, run_id)  # NotFound: 404 before any stream

    async def stream() -> AsyncIterator[str]:
        nonlocal nodes
        started = beat = time.monotonic()
        last = None
        yield "retry: 2000\n\n"
        while True:
            snapshot = progress_snapshot(nodes)
            if snapshot != last:
                yield _event("progress", snapshot)
                last = snapshot
                beat = time.monotonic()
            if snapshot["settled"]:
                yield _event("settled", {"digest": snapshot["digest"]})
                return
            now = time.monotonic()
            if now - started > MAX_STREAM_S or await request.is_disconnected():
                return
            if now - beat > HEARTBEAT_S:
                yield ": still running\n\n"
                beat = now
            await asyncio.sleep(POLL_S)
            nodes = await run_in_threadpool(service.tree, p, run_id)

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"X-Accel-Buffering": "no"})
