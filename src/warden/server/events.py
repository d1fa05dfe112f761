"""Live progress of a run tree as server-sent events (the run page's static/live.js reads them).

Each event is the tree's statuses, costs, timings and step statuses as JSON (`progress`), sent
when it changes; `settled` ends the stream once the tree finished or waits for an approval. The
stream also ends after :data:`MAX_STREAM_S` (the browser reconnects) or when the client goes.

The session is checked again at every poll, as every page checks it: once it is no longer live
(signed out, expired, ended by a new password, its account disabled) or no longer sees the run
(its user taken out of the tenant), `ended` closes the stream and nothing more of the tree is
sent. The stream takes no API token (it reads the session cookie only).

Every open stream re-reads the session and the tree at every poll, so their number is bounded
(:class:`StreamSlots`, held in ``app.state.streams``): at most :data:`STREAMS_PER_SESSION` per
session and :data:`STREAMS_PER_SERVER` in all; one more is refused with 429 `too_many_streams`.
A stream gives its slot back however it ends (settled, ended, timed out, the client gone).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from warden.errors import WardenError
from warden.server.errors import body
from warden.server.identity import page_session, service_of
from warden.server.views import progress_snapshot
from warden.service import NoPrincipal, NotFound, Principal

__all__ = [
    "ENDED",
    "MAX_STREAM_S",
    "POLL_S",
    "STREAMS_PER_SERVER",
    "STREAMS_PER_SESSION",
    "Slot",
    "StreamSlots",
    "router",
]

router = APIRouter(include_in_schema=False)
POLL_S = 0.5
MAX_STREAM_S = 300.0
HEARTBEAT_S = 15.0
ENDED = {"reason": "session_ended", "message": "your session ended: sign in again to follow this run"}
"""The `ended` event's data when the session stops being live (or stops seeing the run)."""
STREAMS_PER_SESSION = 6
"""Open streams one session may hold. A run page opens one (static/live.js), so this is six
tabs following runs at once: as many connections as a browser opens to one host over HTTP/1.1,
so a browser hits its own limit first."""
STREAMS_PER_SERVER = 64
"""Open streams the whole server holds, every session together."""


class Slot:
    """One open stream's place in :class:`StreamSlots`; :meth:`release` is idempotent, so the
    stream's own end and its response's end may both call it."""

    def __init__(self, slots: StreamSlots, key: str) -> None:
        self._slots = slots
        self._key: str | None = key

    def release(self) -> None:
        key, self._key = self._key, None
        if key is not None:
            self._slots._release(key)


class StreamSlots:
    """The open event streams, per session and in all; bounded so one account cannot fill the
    server with polls (each stream reads the store every :data:`POLL_S`)."""

    def __init__(self, per_session: int = STREAMS_PER_SESSION, per_server: int = STREAMS_PER_SERVER) -> None:
        if per_session < 1 or per_server < 1:
            raise WardenError(
                "the event stream limits must be at least 1",
                code="bad_stream_limits",
                fix="set streams_per_session and streams_per_server to 1 or more",
            )
        self.per_session = per_session
        self.per_server = per_server
        self._open: dict[str, int] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(session_id: str) -> str:
        return hashlib.sha256(session_id.encode("utf-8")).hexdigest()  # not the cookie itself

    def acquire(self, session_id: str) -> Slot | None:
        """A slot for one more stream of the session, or None when it or the server is full."""
        key = self._key(session_id)
        with self._lock:
            if sum(self._open.values()) >= self.per_server or self._open.get(key, 0) >= self.per_session:
                return None
            self._open[key] = self._open.get(key, 0) + 1
        return Slot(self, key)

    def _release(self, key: str) -> None:
        with self._lock:
            left = self._open.get(key, 0) - 1
            if left > 0:
                self._open[key] = left
            else:
                self._open.pop(key, None)

    def total(self) -> int:
        """Open streams, every session together."""
        with self._lock:
            return sum(self._open.values())

    def of(self, session_id: str) -> int:
        """Open streams of one session (for tests and operators)."""
        with self._lock:
            return self._open.get(self._key(session_id), 0)


class _SlotStream(StreamingResponse):
    """A stream that gives its slot back when the response ends, however it ends (the client
    gone mid-send, the task cancelled): the generator's own `finally` may not run until it is
    collected when the response stops iterating it."""

    def __init__(self, content: AsyncIterator[str], slot: Slot, **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self.slot = slot

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.slot.release()
            aclose = getattr(self.body_iterator, "aclose", None)
            if aclose is not None:
                await aclose()  # the generator's `finally` runs now, not when collected


def _too_many(slots: StreamSlots) -> Response:
    error = WardenError(
        f"too many live views open: at most {slots.per_session} per session"
        f" and {slots.per_server} on this server",
        code="too_many_streams",
        fix="close another tab that follows a run (or use its Refresh link), then reload this page",
    )
    return JSONResponse(body(error), status_code=429, headers={"Retry-After": "10"})


def slots_of(request: Request) -> StreamSlots:
    slots = getattr(request.app.state, "streams", None)
    if slots is None:  # an app not built by create_app: the defaults
        slots = request.app.state.streams = StreamSlots()
    return slots


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

    slots = slots_of(request)
    slot = slots.acquire(session.session_id)
    if slot is None:
        return _too_many(slots)

    async def stream() -> AsyncIterator[str]:
        try:
            async for chunk in events():
                yield chunk
        finally:  # settled, ended, timed out, the client gone, cancelled: the slot is free again
            slot.release()

    async def events() -> AsyncIterator[str]:
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

    try:
        return _SlotStream(
            stream(), slot, media_type="text/event-stream", headers={"X-Accel-Buffering": "no"}
        )
    except BaseException:
        slot.release()
        raise
