"""Service errors as HTTP answers: a status code and ``{"error": {"code", "message", "fix"}}``.

A run another tenant owns answers exactly like a run that does not exist (the service raises
the same NotFound for both); nothing unexpected answers with a traceback. What the framework
refuses before a route runs (a body that is not JSON or not a form, a field too long, a route or
method that does not exist) answers in the same shape, with a code and a fix, and never echoes the
refused input back (it may be a password).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from warden.credentials import scrub
from warden.errors import LoadError, UsageError, WardenError

__all__ = ["ErrorBody", "ErrorDetail", "error_responses", "install_error_handlers", "status_of"]

log = logging.getLogger("warden.server")

STATUS_BY_CODE = {
    "unknown_run": 404,
    "unknown_token": 404,
    "no_principal": 401,
    "bad_credentials": 401,
    "sign_in_throttled": 429,
    "upload_too_large": 413,
    "upload_type": 415,
    "forbidden": 403,
    "authentication_required": 403,
    "unknown_user": 403,
    "not_a_member": 403,
    "refused": 409,
    "edit_refused": 409,
    "not_resumable": 409,
    "policy_mismatch": 409,
    "document_outside_roots": 403,
    "store_busy": 503,
    "csrf": 403,
    "run_busy": 409,
    "oidc_refused": 401,
    "oidc_state": 400,
    "oidc_unknown_user": 403,
    "oidc_not_configured": 404,
    "oidc_provider_unreachable": 502,
    "invalid_request": 422,
}

HTTP_CODES = {
    401: ("no_principal", "send `Authorization: Bearer TOKEN` (POST /api/tokens gives one)"),
    400: ("bad_request", "send a well-formed request (the API's shapes are at /openapi.json)"),
    404: ("not_found", "check the address; the pages start at / and the API's routes are at /openapi.json"),
    405: ("method_not_allowed", "use a method the route takes (see /openapi.json)"),
    408: ("request_timeout", "send the request again, its body without long pauses"),
    413: ("request_too_large", "send a smaller request; only the uploads take documents-sized bodies"),
}
"""The framework's own refusals (no such route, a body it cannot parse): their code and fix."""


class ErrorDetail(BaseModel):
    code: str
    message: str
    fix: str | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the error statuses a route may answer with."""
    return {code: {"model": ErrorBody} for code in codes}


def status_of(error: WardenError) -> int:
    if error.code in STATUS_BY_CODE:
        return STATUS_BY_CODE[error.code]
    if isinstance(error, LoadError):
        return 422
    if isinstance(error, UsageError):
        return 400
    return 409


def body(error: WardenError) -> dict[str, Any]:
    return {
        "error": {
            "code": error.code,
            "message": scrub(error.message),
            "fix": scrub(error.fix) if error.fix else None,
        }
    }


def is_page(request: Request) -> bool:
    """A browser page (answered in HTML), not the API or an ops endpoint (answered in JSON)."""
    path = request.url.path
    return not path.startswith(("/api/", "/metrics", "/healthz", "/openapi.json", "/static/"))


def error_page(request: Request, status: int, code: str, message: str, fix: str | None) -> Response:
    from warden.server.identity import page_session
    from warden.server.templating import templates

    context: dict[str, Any] = {"status": status, "code": code, "message": message, "fix": fix}
    try:
        session = page_session(request)
    except WardenError:  # the lookup itself refused (policy_mismatch, store_busy): the coded
        session = None  # page still answers, signed out (the error is what the browser needs)
    if session is not None:
        context.update(me=session.principal.user, admin=session.principal.admin, csrf_token=session.csrf)
        context["csrf_field"] = "csrf_token"
    return templates.TemplateResponse(request, "error.html", context, status_code=status)


def _field(loc: Any) -> str:
    parts = [str(part) for part in loc or ()]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        where, rest = parts[0], parts[1:]
        return f"{where} field '{'.'.join(rest)}'" if rest else f"the {where}"
    return "'" + ".".join(parts) + "'"


def validation_message(exc: RequestValidationError, limit: int = 5) -> str:
    """What was wrong with the request, field by field, without the values sent (a refused
    value may be a password or a document)."""
    said = []
    for error in exc.errors()[:limit]:
        if error.get("type") == "json_invalid":
            said.append("the body is not valid JSON")
            continue
        said.append(f"{_field(error.get('loc'))}: {error.get('msg', 'invalid')}")
    more = len(exc.errors()) - limit
    return "invalid request: " + "; ".join(said) + (f"; and {more} more" if more > 0 else "")


def refusal(request: Request, exc: StarletteHTTPException) -> Response:
    """The answer to a framework or middleware refusal: its code, the HTML error page for a
    page, the coded JSON body for the API."""
    headers = dict(exc.headers or {})
    if exc.status_code < 400 or exc.status_code in (204, 304):  # a redirect (sign in first)
        return Response(status_code=exc.status_code, headers=headers)
    code, fix = HTTP_CODES.get(exc.status_code, (f"http_{exc.status_code}", None))
    code = getattr(exc, "code", None) or code
    fix = getattr(exc, "fix", None) or fix
    message = scrub(str(exc.detail)) if exc.detail else code.replace("_", " ")
    if is_page(request):
        response = error_page(request, exc.status_code, code, message, fix)
        response.headers.update(headers)
        return response
    body = {"error": {"code": code, "message": message, "fix": fix}}
    return JSONResponse(body, status_code=exc.status_code, headers=headers or None)


def install_error_handlers(app: FastAPI) -> None:
    async def warden_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, WardenError)
        status = status_of(exc)
        if is_page(request):
            detail = body(exc)["error"]
            return error_page(request, status, detail["code"], detail["message"], detail["fix"])
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse(body(exc), status_code=status, headers=headers)

    async def internal_error(request: Request, exc: Exception) -> Response:
        log.exception("internal error on %s %s", request.method, request.url.path)
        if is_page(request):
            message = "internal error: this is a bug in Warden; the server log has the details"
            return error_page(request, 500, "internal", message, None)
        return JSONResponse(
            {
                "error": {
                    "code": "internal",
                    "message": "internal error: this is a bug in Warden; the server log has the details",
                    "fix": None,
                }
            },
            status_code=500,
        )

    async def invalid_request(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        message = scrub(validation_message(exc))
        if is_page(request):
            return error_page(
                request, 422, "invalid_request", message, "go back, correct the form and send it again"
            )
        fix = "send the fields the route takes, as /openapi.json describes them"
        return JSONResponse(
            {"error": {"code": "invalid_request", "message": message, "fix": fix}}, status_code=422
        )

    async def http_refusal(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        return refusal(request, exc)

    app.add_exception_handler(WardenError, warden_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(StarletteHTTPException, http_refusal)
    app.add_exception_handler(Exception, internal_error)
