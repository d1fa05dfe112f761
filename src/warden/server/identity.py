"""Who is asking: a bearer token (the API) or a session cookie (the pages), as a Principal.

The server only authenticates; the principal it hands on carries `auth="token"` or
`"password"` and the tenants and roles the policy in force gives the user.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from warden.server.proxies import TrustedProxies
from warden.service import NoPrincipal, Principal, Service
from warden.service.accounts import Session
from warden.service.errors import BadCredentials

__all__ = [
    "CSRF_FIELD",
    "SESSION_COOKIE",
    "TRUSTED_PROXIES_ENV",
    "ApiPrincipal",
    "client_of",
    "page_session",
    "proxy_options",
    "service_of",
]

SESSION_COOKIE = "warden_session"
CSRF_FIELD = "csrf_token"
TRUSTED_PROXIES_ENV = "WARDEN_TRUSTED_PROXIES"
"""`warden serve --trusted-proxy`'s default: addresses or networks, separated by commas or spaces."""

bearer = HTTPBearer(
    auto_error=False, description="An API token from `POST /api/tokens` or `warden users token`"
)


def service_of(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def client_of(request: Request) -> str:
    """The client a sign-in attempt is throttled by: the peer's address, or, when the peer is a
    trusted proxy (:class:`~warden.server.proxies.ForwardedClients`), the client it says it
    forwards for."""
    return request.client.host if request.client else "unknown"


def proxy_options(trusted: Iterable[str]) -> dict[str, Any]:
    """uvicorn's options for a server trusting the `trusted` proxies (addresses or networks,
    checked: a value that is not one is refused, as is one that trusts every address). uvicorn's
    own proxy-header handling is always off (it would trust loopback by default, and does not
    match an IPv4 proxy seen as `::ffff:a.b.c.d` on a dual-stack socket, nor read `Forwarded`):
    :class:`~warden.server.proxies.ForwardedClients`, which `create_app(trusted_proxies=...)`
    installs, honours the headers from these peers and from nobody else."""
    TrustedProxies(trusted)
    return {"proxy_headers": False}


def api_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    if credentials is None or not credentials.credentials:
        raise NoPrincipal(
            "no API token: send `Authorization: Bearer TOKEN`",
            fix="get a token with POST /api/tokens or `warden users token USER` on the host",
        )
    return service_of(request).accounts.authenticate_token(credentials.credentials)


ApiPrincipal = Annotated[Principal, Depends(api_principal)]


def page_session(request: Request) -> Session | None:
    """The browser's live session, or None (pages then send it to the sign-in form)."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    try:
        return service_of(request).accounts.session(cookie)
    except BadCredentials:
        return None
