"""The application factory: one Service over the state directory, routers mounted in one place.

Routers are mounted by :func:`create_app` only; a later page or feature adds its router to
:data:`ROUTERS` (or passes ``extra_routers``), and gets the service as ``request.app.state.service``
and the background workers as ``request.app.state.workers``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from warden.server.api import router as api_router
from warden.server.errors import install_error_handlers, refusal
from warden.server.events import STREAMS_PER_SERVER, STREAMS_PER_SESSION, StreamSlots
from warden.server.events import router as events_router
from warden.server.metrics import router as metrics_router
from warden.server.models import Health
from warden.server.orphans import resume_orphans
from warden.server.pages import router as pages_router
from warden.server.proxies import ForwardedClients, TrustedProxies
from warden.server.proxies import proxy_header as checked_header
from warden.server.views import router as views_router
from warden.server.workers import Workers
from warden.service import Service, run_escalation_loop
from warden.service.accounts import SignInLimits

__all__ = [
    "ROUTERS",
    "SECURITY_HEADERS",
    "SMALL_BODY_BYTES",
    "UPLOAD_ROUTES",
    "BodyLimit",
    "ServerSettings",
    "body_limit",
    "create_app",
    "max_body_bytes",
]

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
)
"""Sent with every response: no inline script can run, nothing frames Warden, no referrer leaks."""

ROUTERS: tuple[APIRouter, ...] = (api_router, metrics_router, pages_router, views_router, events_router)


@dataclass(frozen=True)
class ServerSettings:
    home: Path
    policy: Path | None = None
    secure_cookies: bool = False
    """Mark cookies Secure (set when Warden is served over TLS, directly or behind a proxy)."""
    workers: int = 2
    """Background worker threads that run the graph."""
    escalate_every_s: float | None = 30.0
    """How often the escalation loop escalates overdue approvals and delivers notifications
    (None: no loop, e.g. when another process runs it)."""
    orphan_grace_s: float | None = 10.0
    """At start-up, resume runs whose driver is gone once they have not changed for this long
    (None: leave them for `warden resume`)."""
    trusted_proxies: tuple[str, ...] = ()
    """Reverse proxies (addresses or networks) whose forwarding header names the client."""
    proxy_header: str = "x-forwarded-for"
    """The header those proxies set: `x-forwarded-for` or `forwarded` (RFC 7239); only it is read."""
    sign_in_limits: SignInLimits = field(default_factory=SignInLimits)
    streams_per_session: int = STREAMS_PER_SESSION
    """Run pages' live event streams one session may hold open (one more answers 429)."""
    streams_per_server: int = STREAMS_PER_SERVER
    """Live event streams open on the whole server (one more answers 429)."""


HSTS = (b"strict-transport-security", b"max-age=31536000")
"""Sent too when Warden is served over TLS (`secure_cookies`): browsers never fall back to HTTP."""


class SecurityHeaders:
    """Pure ASGI middleware: the security headers on every response (errors and 404s too)."""

    def __init__(self, app: ASGIApp, tls: bool = False) -> None:
        self.app = app
        self.headers = (*SECURITY_HEADERS, HSTS) if tls else SECURITY_HEADERS

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in _NAMES]
                headers.extend(self.headers)
                if not path.startswith("/static/"):
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


_NAMES = {name for name, _ in SECURITY_HEADERS} | {b"cache-control", HSTS[0]}


def max_body_bytes() -> int:
    """The largest request body the server reads: a full document set at the upload limit, with
    room for the multipart framing, a runbook and the form's other fields."""
    from warden.service import starting

    return starting.MAX_SET_DOCUMENTS * (starting.MAX_UPLOAD_BYTES + 64 * 1024) + 2 * 2**20


ANONYMOUS_BODY_BYTES = 2**20
"""A body larger than this is read only once its credential is known to be good (and the routes
anyone may call, sign-in and the token exchange, take no larger one)."""
PUBLIC_PREFIXES = ("/sign-in", "/api/tokens")
SMALL_BODY_BYTES = 8 * 2**20
"""The largest body of every route that takes no documents (a decision, a form, a comment): a
1 MB runbook percent-encoded or JSON-escaped (up to ~6 bytes a byte for control and non-ASCII
text) and the other fields. Only :data:`UPLOAD_ROUTES` take :func:`max_body_bytes`."""
UPLOAD_ROUTES = frozenset({("POST", "/api/runs"), ("POST", "/upload")})
"""(method, path) of the routes that take documents, and so a body up to :func:`max_body_bytes`."""
BODY_TIMEOUT_S = 30.0
"""A request body must have arrived this long after the request started, plus a second for
every :data:`BODY_MIN_RATE` bytes received (a floor on the average rate, as Apache's
mod_reqtimeout `body=30,MinRate=...`): a client trickling its body is cut off (408) instead of
keeping its request open for as long as it likes."""
BODY_MIN_RATE = 32 * 1024
"""Bytes a second: a 400 MiB document set needs ~3.5 hours at this rate, not 30 s."""


def body_limit(method: str, path: str) -> int:
    """The largest body the route at `path` takes: 1 MiB for the routes anyone may call, the
    document set for the uploads, :data:`SMALL_BODY_BYTES` for everything else."""
    if path.startswith(PUBLIC_PREFIXES):
        return ANONYMOUS_BODY_BYTES
    if (method.upper(), path) in UPLOAD_ROUTES:
        return max_body_bytes()
    return SMALL_BODY_BYTES


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is over this route's limit of {limit} bytes")


class BodyTooSlow(HTTPException):
    """The body did not arrive in time (:data:`BODY_TIMEOUT_S`): 408, and the connection closes
    (the rest of the body is never read)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(
            408, f"the request body did not arrive within {seconds:.0f} s", {"Connection": "close"}
        )


class Refused(HTTPException):
    """A large body refused before it is read, with the code the route would have answered."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(status, message, headers)
        self.code = code


def _unauthenticated(code: str) -> Refused:
    return Refused(
        401, code, "sign in or send a valid API token before uploading", {"WWW-Authenticate": "Bearer"}
    )


def _vet_credential(service: Service, scope: Scope) -> None:
    """Raise unless the request carries the credential its route takes, alive: a bearer token
    for the API, the session cookie for the pages (the route checks it again, as always)."""
    from starlette.requests import cookie_parser

    from warden.errors import WardenError
    from warden.server.errors import status_of
    from warden.server.identity import SESSION_COOKIE

    headers: dict[bytes, str] = {}
    for key, value in scope.get("headers", []):  # the first of a repeated header, as Starlette reads it
        headers.setdefault(key.lower(), value.decode("latin-1"))
    path: str = scope.get("path", "")
    try:
        if path.startswith("/api/"):
            scheme, _, secret = headers.get(b"authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not secret.strip():
                raise _unauthenticated("no_principal")
            service.accounts.authenticate_token(secret.strip())
            return
        session = cookie_parser(headers.get(b"cookie", "")).get(SESSION_COOKIE)
        if not session:
            raise _unauthenticated("no_principal")
        service.accounts.session(session)
    except (WardenError, Refused) as exc:
        status = exc.status_code if isinstance(exc, Refused) else status_of(exc)
        if status == 401 and not path.startswith("/api/"):  # the pages send the browser to sign in
            raise HTTPException(303, "sign in first", headers={"Location": "/sign-in"}) from None
        if isinstance(exc, Refused):
            raise
        if status == 401:
            raise _unauthenticated(exc.code) from None
        raise Refused(status, exc.code, exc.message) from None  # e.g. the store is busy: 503


class BodyLimit:
    """Pure ASGI middleware: a request body over its route's limit (:func:`body_limit`) is
    refused (413, `request_too_large`): at once, before any route, if its Content-Length says so
    (the body is never read; a route that reads no body, the live event stream among them, would
    otherwise answer, or refuse only after its answer started), else as soon as the bytes
    received pass the limit. Without it the framework spools any body to disk (a form) or reads
    it whole into memory (JSON) before the service's own size checks (and before the route's own
    authentication) see it. So a body over :data:`ANONYMOUS_BODY_BYTES` is read only once its
    credential holds (refused like the route would refuse it, before a byte is read), the routes
    anyone may call take no larger one, and only the uploads take more than
    :data:`SMALL_BODY_BYTES`. A body that does not arrive in time (:data:`BODY_TIMEOUT_S`,
    :data:`BODY_MIN_RATE`) is refused with 408 (`request_timeout`)."""

    def __init__(self, app: ASGIApp, service: Service) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        path: str = scope.get("path", "")
        public = path.startswith(PUBLIC_PREFIXES)
        limit = body_limit(scope.get("method", ""), path)
        declared = 0
        for name, value in scope.get("headers", []):
            if name.lower() == b"content-length":
                declared = int(value) if value.strip().isdigit() else 0
        if declared > limit:
            await refusal(Request(scope), BodyTooLarge(limit))(scope, receive, send)
            return
        seen = 0
        vetted = public
        done = False  # the whole body arrived (or the client left): later reads wait for a disconnect

        async def limited() -> Message:
            nonlocal seen, vetted, done
            if not vetted and max(declared, seen) > ANONYMOUS_BODY_BYTES:
                await run_in_threadpool(_vet_credential, self.service, scope)
                vetted = True
            if done:
                return await receive()
            timeout_s = BODY_TIMEOUT_S  # read now: a setting the tests may lower
            left = started + timeout_s + seen / BODY_MIN_RATE - time.monotonic()
            message: Message | None = None
            with anyio.move_on_after(max(left, 0.0)):
                message = await receive()
            if message is None:
                raise BodyTooSlow(timeout_s)
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
                done = not message.get("more_body", False)
            else:
                done = True
            return message

        await self.app(scope, limited, send)


def _has_body(scope: Scope) -> bool:
    """Whether the request says a body follows (a Content-Length over 0, or chunked)."""
    for name, value in scope.get("headers", []):
        key = name.lower()
        if key == b"transfer-encoding" or (key == b"content-length" and value.strip() not in (b"", b"0")):
            return True
    return False


class OneOpenPerPage:
    """Pure ASGI middleware: a page request keeps the DuckDB file open (:meth:`Store.hold`) from
    the moment its body has arrived until it is answered: a page does several units of work (the
    session, the policy, its reads; opening the file costs ~35 ms each time). Never before the
    body is in (a client trickling its body would otherwise hold the file as long as it likes)
    nor across requests: between requests the store's own linger (``service.long_lived``) keeps
    the file open, and it gives the file up to a waiting process and after
    :data:`~warden.store.connection.LINGER_CAP_S`, which a hold spanning requests never did. Not
    for the event stream (it would hold the file for minutes) nor the API (its requests are
    short units of work already)."""

    def __init__(self, app: ASGIApp, service: Service) -> None:
        self.app = app
        self.store = service.store
        self.in_process = service.engine.in_process  # a remote engine's waits must not hold the file

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        passes = not self.in_process or path.startswith(("/api/", "/static/")) or path.endswith("/events")
        if scope["type"] != "http" or passes:
            await self.app(scope, receive, send)
            return
        held: list[AbstractContextManager[None]] = []

        async def take() -> None:
            hold = self.store.hold()
            # in a thread (the store's mutex may be taken by a unit of work waiting for the file),
            # shielded: a hold taken must be recorded, or it would never be given back
            with anyio.CancelScope(shield=True):
                await run_in_threadpool(hold.__enter__)
                held.append(hold)

        async def received() -> Message:
            message = await receive()
            if not held and message["type"] == "http.request" and not message.get("more_body", False):
                await take()
            return message

        if not _has_body(scope):
            await take()
        try:
            await self.app(scope, received, send)
        finally:
            with anyio.CancelScope(shield=True):  # the last hold's end may close the file: a thread
                for hold in held:
                    await run_in_threadpool(hold.__exit__, None, None, None)


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)  # naive UTC, as the store keeps times


def create_app(
    home: str | Path,
    *,
    policy: str | Path | None = None,
    secure_cookies: bool = False,
    workers: int = 2,
    escalate_every_s: float | None = 30.0,
    orphan_grace_s: float | None = 10.0,
    service: Service | None = None,
    extra_routers: Sequence[APIRouter] = (),
    trusted_proxies: Sequence[str] = (),
    proxy_header: str = "x-forwarded-for",
    sign_in_limits: SignInLimits | None = None,
    streams_per_session: int = STREAMS_PER_SESSION,
    streams_per_server: int = STREAMS_PER_SERVER,
) -> FastAPI:
    """The Warden server over the state directory `home` (`policy`, if given, must be the policy
    in force; an empty state directory is initialised with it). Requests from the
    `trusted_proxies` come from the client their `proxy_header` names (docs/SERVER.md, "Behind a
    reverse proxy"); sign-ins are limited by `sign_in_limits` (default: 5 per client, 50 per user,
    per 15 minutes); a session holds at most `streams_per_session` live event streams, the
    server `streams_per_server` (default: 6 and 64)."""
    trusted = TrustedProxies(trusted_proxies)  # a bad entry is refused before anything opens
    streams = StreamSlots(streams_per_session, streams_per_server)  # likewise a limit below 1
    settings = ServerSettings(
        Path(home),
        Path(policy) if policy else None,
        secure_cookies,
        workers,
        escalate_every_s,
        orphan_grace_s,
        tuple(str(n) for n in trusted.networks),
        checked_header(proxy_header),
        sign_in_limits or SignInLimits(),
        streams_per_session,
        streams_per_server,
    )
    service = service or Service(settings.home, policy=settings.policy)
    service.accounts.limits = settings.sign_in_limits
    service.store.threaded = True
    service.long_lived("serve")  # the file lingers between requests; on a shared ledger, heartbeats
    if hasattr(service.engine, "wait_s"):  # a remote engine: a request waits at most its `wait`
        service.engine.wait_s = 30.0
    service.policies.in_force(may_initialise=True)  # a wrong or missing policy fails now, not per request
    pool = Workers(workers)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # SLA timers are data (the queue's due times), so a restarted server picks them up
        stop = threading.Event()
        orphans = None
        # what a stopped server left running mid-step (an engine that recovers itself, Temporal,
        # leaves no orphans: its workers drive the trees, whatever happens to this server)
        if orphan_grace_s is not None and not service.engine.recovers_itself:
            orphans = threading.Thread(
                target=resume_orphans,
                args=(service, pool),
                kwargs={"started": _utcnow(), "grace_s": orphan_grace_s, "stop": stop},
                name="warden-orphans",
                daemon=True,
            )
            orphans.start()
        loop = None
        if escalate_every_s:
            loop = threading.Thread(
                target=run_escalation_loop,
                args=(service, escalate_every_s, stop),
                name="warden-escalation",
                daemon=True,
            )
            loop.start()
        try:
            yield
        finally:
            stop.set()
            if loop is not None:
                loop.join(timeout=30)
            if orphans is not None:
                orphans.join(timeout=30)
            pool.shutdown()
            service.stop_heartbeat()  # a clean stop: this host is silent at once (shared ledger)

    app = FastAPI(
        title="Warden",
        version="1",
        description="Governed compliance analysis: upload notices, decide approvals, read findings.",
        docs_url=None,  # Swagger UI needs a CDN and inline script: the CSP forbids both
        redoc_url=None,
        openapi_url="/openapi.json",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.service = service
    app.state.workers = pool
    app.state.streams = streams
    install_error_handlers(app)
    app.add_middleware(BodyLimit, service=service)
    app.add_middleware(OneOpenPerPage, service=service)
    if trusted:
        app.add_middleware(ForwardedClients, trusted=trusted, header=settings.proxy_header)
    app.add_middleware(SecurityHeaders, tls=secure_cookies)
    for router in (*ROUTERS, *extra_routers):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=str(Path(__file__).parent / "static")), name="static")

    @app.get("/healthz", response_model=Health, tags=["ops"], responses={503: {"model": Health}})
    def healthz(request: Request) -> Any:
        """For probes: the store opens and answers, the engine reads its checkpoints."""
        store = engine = "ok"
        try:
            service.store.ping()
        except Exception as exc:
            store = f"error: {type(exc).__name__}"
        try:
            service.engine.approval("healthz-probe", "healthz-probe")
        except Exception as exc:
            engine = f"error: {type(exc).__name__}"
        ok = store == engine == "ok"
        body = Health(status="ok" if ok else "error", store=store, engine=engine, workers_busy=pool.busy())
        return body if ok else JSONResponse(body.model_dump(), status_code=503)

    return app
