"""Who is asking: a bearer token (the API) or a session cookie (the pages), as a Principal.

The server only authenticates; the principal it hands on carries `auth="token"` or
`"password"` and the tenants and roles the policy in force gives the user.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from warden.errors import UsageError
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
    trusted proxy (:func:`proxy_options`), the address it says it forwards for."""
    return request.client.host if request.client else "unknown"


def proxy_options(trusted: Iterable[str]) -> dict[str, Any]:
    """uvicorn's options for honouring X-Forwarded-For (and -Proto) from the `trusted` peers
    (addresses or networks) and from nobody else: a client that names itself in the header
    would otherwise choose the address its sign-in failures are counted by. With none trusted
    the headers are ignored (uvicorn would trust loopback by default). A value that is not an
    address or network is refused: uvicorn would take it as a literal that never matches."""
    allowed: list[str] = []
    for value in trusted:
        for item in value.replace(",", " ").split():
            try:
                network = ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise UsageError(
                    f"trusted proxy {item!r} is not an IP address or network",
                    fix="name the reverse proxy's address as Warden sees it, e.g. 10.0.0.5",
                ) from None
            if network.prefixlen == 0:  # every client a proxy: each picks its own address
                raise UsageError(
                    f"trusted proxy {item!r} trusts every address: any client could then name the "
                    "address its failed sign-ins count against",
                    fix="name only the reverse proxy's own address (or its proxies' network)",
                )
            allowed.append(str(network))
    if not allowed:
        return {"proxy_headers": False}
    return {"proxy_headers": True, "forwarded_allow_ips": allowed}


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
