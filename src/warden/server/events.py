"""Live progress of a run tree as server-sent events (the run page's static/live.js reads them).

Each event is the tree's statuses, costs, timings and step statuses as JSON (`progress`), sent
when it changes; `settled` ends the stream once the tree finished or waits for an approval. The
stream also ends after :data:`MAX_STREAM_S` (the browser reconnects) or when the client goes.

The session is checked again at every poll, as every page checks it: once it is no longer live
(signed out, expired, ended by a new password, its account disabled) or no longer sees the run
(its user taken out of the tenant), `ended` closes the stream and nothing more of the tree is
sent. The stream takes no API token (it reads the session cookie only).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from warden.server.identity import page_session, service_of
from warden.server.views import progress_snapshot
from warden.service import NoPrincipal, NotFound, Principal

__all__ = ["ENDED", "MAX_STREAM_S", "POLL_S", "router"]

router = APIRouter(include_in_schema=False)
POLL_S = 0.5
MAX_STREAM_S = 300.0
HEARTBEAT_S = 15.0
ENDED = {"reason": "session_ended", "message": "your session ended: sign in again to follow this run"}
"""The `ended` event's data when the session stops being live (or stops seeing the run)."""


def _event(name: str, data: object) -> str:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


@router.get("/runs/{run_id}/events")
async def run_events(request: Request, run_id: str) -> Response:
    session = page_session(request)
    if session is None:  # an EventSource follows no redirect: a coded 401 instead
        raise NoPrincipal("sign in first: the live view needs a session", fix="sign in at /sign-in")
    service = service_of(request)
    nodes = await run_in_threadpool(
        service.tree, session.principal, run_id
    )  # NotFound: 404 before any stream

    def visible_tree(p: Principal) -> list[dict[str, Any]] | None:
        try:
            return service.tree(p, run_id)
        except NotFound:  # the user is no longer in the run's tenant
            return None

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
            # the session as every page sees it now (signed out, expired, its account disabled:
            # None), and the run as its principal may see it now (roles may have changed)
            live = await run_in_threadpool(page_session, request)
            seen = None if live is None else await run_in_threadpool(visible_tree, live.principal)
            if seen is None:
                yield _event("ended", ENDED)
                return
            nodes = seen

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"X-Accel-Buffering": "no"})
