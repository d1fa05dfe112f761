"""Sign in and sign out (the other pages are in :mod:`warden.server.views`).

Sessions: the cookie holds a random id (stored only as its SHA-256), HttpOnly, SameSite=Strict,
Secure when the server runs behind TLS; a new id at every sign-in (the old one ends), ended at
sign-out. Every form POST carries a CSRF token: the session's, or before sign-in a random value
also set as a short-lived cookie (double submit).
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from warden.errors import WardenError
from warden.server.errors import status_of
from warden.server.identity import CSRF_FIELD, SESSION_COOKIE, client_of, page_session, service_of
from warden.server.templating import templates
from warden.server.views import check_csrf
from warden.service.accounts import SESSION_TTL

__all__ = ["OIDC_COOKIE", "PRE_SESSION_COOKIE", "router", "templates"]

PRE_SESSION_COOKIE = "warden_presession"
OIDC_COOKIE = "warden_oidc"
"""The state of this browser's OIDC sign-in under way: SameSite=Lax, since the provider's
redirect back is a cross-site navigation (a Strict cookie would not come with it)."""
router = APIRouter(include_in_schema=False)


def _secure(request: Request) -> bool:
    return bool(request.app.state.settings.secure_cookies) or request.url.scheme == "https"


def _sign_in_form(
    request: Request,
    *,
    error: str | None = None,
    status: int = 200,
    user: str = "",
    refused: WardenError | None = None,
) -> Response:
    token = secrets.token_urlsafe(32)
    provider = None
    try:
        provider = service_of(request).accounts.oidc.provider()
    except WardenError:
        provider = None  # no policy in force yet: password sign-in only
    response = templates.TemplateResponse(
        request,
        "sign_in.html",
        {
            "csrf_token": token,
            "csrf_field": CSRF_FIELD,
            "error": error,
            "user": user,
            "oidc_name": provider.name if provider else None,
            "code": refused.code if refused else None,
            "fix": refused.fix if refused else None,
        },
        status_code=status,
    )
    response.set_cookie(
        PRE_SESSION_COOKIE, token, max_age=3600, httponly=True, samesite="strict", secure=_secure(request)
    )
    return response


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_page(request: Request) -> Response:
    return _sign_in_form(request)


@router.post("/sign-in")
def sign_in(
    request: Request,
    user: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    expected = request.cookies.get(PRE_SESSION_COOKIE, "")
    if not expected or not csrf_token or not secrets.compare_digest(expected, csrf_token):
        return _sign_in_form(request, error="The form expired; please sign in again.", status=403, user=user)
    try:
        session = service_of(request).accounts.sign_in(
            user, password, client=client_of(request), previous=request.cookies.get(SESSION_COOKIE)
        )
    except WardenError as exc:
        message = exc.message if exc.code == "sign_in_throttled" else "Wrong user or password."
        return _sign_in_form(request, error=message, status=status_of(exc), user=user)
    response = RedirectResponse("/", status_code=303)
    _set_session_cookie(request, response, session.session_id)
    return response


def _set_session_cookie(request: Request, response: Response, session_id: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=int(SESSION_TTL.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path="/",
    )
    response.delete_cookie(PRE_SESSION_COOKIE)


def _sentence(text: str) -> str:
    return (text[:1].upper() + text[1:]).rstrip(".") + "."


@router.get("/sign-in/oidc")
def oidc_begin(request: Request) -> Response:
    """Send the browser to the policy's OIDC provider (a link, not a form: CSP's form-action
    would stop a form's redirect to another origin)."""
    try:
        started = service_of(request).accounts.oidc.begin(str(request.url_for("oidc_callback")))
    except WardenError as exc:
        return _sign_in_form(request, error=_sentence(exc.message), status=status_of(exc), refused=exc)
    response = RedirectResponse(started.url, status_code=303)
    response.set_cookie(
        OIDC_COOKIE,
        started.state,
        max_age=600,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        path="/sign-in/oidc",
    )
    return response


@router.get("/sign-in/oidc/callback", name="oidc_callback")
def oidc_callback(
    request: Request,
    code: Annotated[str, Query(max_length=2048)] = "",
    state: Annotated[str, Query(max_length=200)] = "",
    error: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """The provider's redirect back: the sign-in is completed by the service (state, code,
    ID token, policy user) and a new session starts."""
    try:
        session = service_of(request).accounts.oidc.complete(
            state=state,
            code=code,
            error=error,
            browser_state=request.cookies.get(OIDC_COOKIE),
            client=client_of(request),
            previous=request.cookies.get(SESSION_COOKIE),
        )
    except WardenError as exc:
        response = _sign_in_form(request, error=_sentence(exc.message), status=status_of(exc), refused=exc)
        response.delete_cookie(OIDC_COOKIE, path="/sign-in/oidc")
        return response
    # a page that moves on to "/" itself: after the provider's cross-site redirect, a redirect
    # from here would still count as cross-site and the browser would hold back the new
    # SameSite=Strict session cookie; a navigation started by this page is same-site
    response = templates.TemplateResponse(request, "signed_in.html", {"user": session.principal.user})
    _set_session_cookie(request, response, session.session_id)
    response.delete_cookie(OIDC_COOKIE, path="/sign-in/oidc")
    return response


@router.post("/sign-out")
def sign_out(request: Request, csrf_token: Annotated[str, Form(max_length=200)] = "") -> Response:
    session = page_session(request)
    if session is None:
        return RedirectResponse("/sign-in", status_code=303)
    check_csrf(request, session, csrf_token)  # a coded 403 page: nothing was done
    service_of(request).accounts.end_session(session.session_id)
    response = RedirectResponse("/sign-in", status_code=303)
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=_secure(request)
    )
    return response
