"""Who is asking: a bearer token (the API) or a session cookie (the pages), as a Principal.

The server only authenticates; the principal it hands on carries `auth="token"` or
`"password"` and the tenants and roles the policy in force gives the user.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from warden.service import NoPrincipal, Principal, Service
from warden.service.accounts import Session
from warden.service.errors import BadCredentials

__all__ = [
    "CSRF_FIELD",
    "SESSION_COOKIE",
    "ApiPrincipal",
    "client_of",
    "page_session",
    "service_of",
]

SESSION_COOKIE = "warden_session"
CSRF_FIELD = "csrf_token"

bearer = HTTPBearer(
    auto_error=False, description="An API token from `POST /api/tokens` or `warden users token`"
)


def service_of(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def client_of(request: Request) -> str:
    """The client a sign-in attempt is throttled by (its address)."""
    return request.client.host if request.client else "unknown"


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
