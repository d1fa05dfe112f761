"""Attacks on the server's parsing: malformed, oversized and non-UTF-8 requests, unknown routes and
methods, crafted links. Each answers with a coded error (`{"error": {code, message, fix}}` from
the API, the error page with its code for a browser), never a traceback, never the refused input
echoed back, and loses nothing already stored."""

from __future__ import annotations

import logging
import re
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.server.conftest import NOTICE, PASSWORD, Live

SECRET = "Tr0ub4dor-" + "s" * 1100  # a "password" over the field's limit: refused, never echoed


def _uploads(live: Live) -> list[Path]:
    return sorted((live.home / "uploads").rglob("*"))


@contextmanager
def _signed_in(live: Live, user: str) -> Iterator[httpx.Client]:
    with live.client() as c:
        form = c.get("/sign-in").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert token
        r = c.post("/sign-in", data={"user": user, "password": PASSWORD, "csrf_token": token[1]})
        assert r.status_code == 303, r.text
        yield c


def _csrf(c: httpx.Client) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/").text)
    assert found
    return found[1]


def _coded(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json"), r.headers
    error: dict[str, Any] = r.json()["error"]
    assert error["code"] == code and error["message"] and error["fix"], error
    assert "Traceback" not in r.text and "detail" not in r.json()
    return error


def _page_coded(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("text/html"), r.headers
    assert f'data-code="{code}"' in r.text, r.text[-1500:]
    assert "Traceback" not in r.text
    assert "content-security-policy" in r.headers


@contextmanager
def _logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Capture warnings and errors of Warden and of uvicorn (whose loggers do not propagate)."""
    uvicorn = logging.getLogger("uvicorn")
    uvicorn.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.WARNING):
            yield
    finally:
        uvicorn.removeHandler(caplog.handler)


API_CASES: dict[str, tuple[str, str, dict[str, Any], int, str]] = {
    "json_not_json": (
        "POST",
        "/api/tokens",
        {"content": b"{not json", "headers": {"content-type": "application/json"}},
        422,
        "invalid_request",
    ),
    "json_not_utf8": (
        "POST",
        "/api/tokens",
        {
            "content": b'{"user": "\xff\xfe", "password": "x"}',
            "headers": {"content-type": "application/json"},
        },
        400,
        "bad_request",
    ),
    "json_missing_fields": ("POST", "/api/tokens", {"json": {}}, 422, "invalid_request"),
    "json_a_list": (
        "POST",
        "/api/runs/run-0123456789ab/decision",
        {"json": [SECRET]},
        422,
        "invalid_request",
    ),
    "password_too_long": (
        "POST",
        "/api/tokens",
        {"json": {"user": "ana@acme", "password": SECRET}},
        422,
        "invalid_request",
    ),
    "decision_unknown": (
        "POST",
        "/api/runs/run-0123456789ab/decision",
        {"json": {"decision": "yolo", "role": "dpo"}},
        422,
        "invalid_request",
    ),
    "query_not_int": ("GET", "/api/runs", {"params": {"limit": "lots"}}, 422, "invalid_request"),
    "query_not_date": ("GET", "/api/runs", {"params": {"since": "yesterday"}}, 422, "invalid_request"),
    "upload_not_multipart": (
        "POST",
        "/api/runs",
        {"content": b"\xff\xfe\x00garbage", "headers": {"content-type": "text/plain"}},
        422,
        "invalid_request",
    ),
    "upload_broken_multipart": (
        "POST",
        "/api/runs",
        {"content": b"--b\r\nbroken", "headers": {"content-type": "multipart/form-data; boundary=b"}},
        422,
        "invalid_request",
    ),
    "tenant_traversal": (
        "POST",
        "/api/runs",
        {"data": {"tenant": "../../../tmp"}, "files": {"file": ("notice.md", NOTICE.read_bytes())}},
        403,
        "forbidden",
    ),
    "no_such_route": ("GET", "/api/nowhere", {}, 404, "not_found"),
    "no_such_method": ("DELETE", "/api/runs", {}, 405, "method_not_allowed"),
    "no_such_static": ("GET", "/static/nothing.js", {}, 404, "not_found"),
}


@pytest.mark.parametrize("case", sorted(API_CASES))
def test_the_api_refuses_malformed_requests_with_a_code_and_echoes_nothing(
    live: Live, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    method, path, kwargs, status, code = API_CASES[case]
    before = _uploads(live)
    with _logs(caplog), live.client("ana@acme") as c:
        r = c.request(method, path, **kwargs)
    error = _coded(r, status, code)
    assert _uploads(live) == before
    # an attacker's request is no bug: nothing is logged as an error, no traceback
    assert not [rec for rec in caplog.records if rec.exc_info or rec.levelno >= logging.ERROR], caplog.text
    assert SECRET not in r.text and "Tr0ub4dor" not in r.text  # a refused password is not echoed
    if code == "invalid_request" and case != "json_not_json":
        assert "field" in error["message"] or "the body" in error["message"], error


PAGE_CASES: dict[str, tuple[str, str, dict[str, Any], int, str]] = {
    "query_not_int": ("GET", "/inbox", {"params": {"offset": "lots"}}, 422, "invalid_request"),
    "comment_too_long": (
        "POST",
        "/runs/run-0123456789ab/comments",
        {"data": {"text": "x" * 20_001}},
        422,
        "invalid_request",
    ),
    "upload_without_file": ("POST", "/upload", {"data": {"tenant": "acme"}}, 422, "invalid_request"),
    "no_such_page": ("GET", "/nowhere/at/all", {}, 404, "not_found"),
    "no_such_method": ("PUT", "/inbox", {}, 405, "method_not_allowed"),
}


@pytest.mark.parametrize("case", sorted(PAGE_CASES))
def test_pages_refuse_malformed_requests_with_the_error_page(
    live: Live, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    method, path, kwargs, status, code = PAGE_CASES[case]
    with _signed_in(live, "ana@acme") as c:
        with _logs(caplog):
            r = c.request(method, path, **kwargs)
        assert not [rec for rec in caplog.records if rec.exc_info or rec.levelno >= logging.ERROR]
        _page_coded(r, status, code)
        assert "<span>ana@acme</span>" in r.text  # the page knows who asks, as every page does
        assert "x" * 200 not in r.text  # the refused text is not echoed


def test_a_refused_sign_in_form_shows_the_error_page_and_not_the_password(live: Live) -> None:
    with live.client() as c:
        r = c.post("/sign-in", data={"user": "ana@acme", "password": SECRET, "csrf_token": "x"})
    _page_coded(r, 422, "invalid_request")
    assert "Tr0ub4dor" not in r.text


def test_a_page_without_a_session_still_redirects_to_sign_in(live: Live) -> None:
    with live.client() as c:
        r = c.get("/inbox")
    assert r.status_code == 303 and r.headers["location"] == "/sign-in"
    assert "content-security-policy" in r.headers


# --- oversized bodies -------------------------------------------------------------------------


def _raw(live: Live, request: bytes, timeout_s: float = 10) -> bytes:
    """Send `request` as-is over a socket; what the server answers before `timeout_s`."""
    host, port = live.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout_s) as s:
        s.sendall(request)
        answer = b""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            head, _, body = answer.partition(b"\r\n\r\n")
            length = re.search(rb"(?i)content-length: *(\d+)", head)
            if length and len(body) >= int(length[1]):
                break
            try:
                chunk = s.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            answer += chunk
        return answer


@pytest.mark.parametrize(
    ("path", "auth"),
    [("/api/runs", "bearer"), ("/upload", "cookie"), ("/api/tokens", "none"), ("/sign-in", "none")],
)
def test_a_body_declared_over_the_limit_is_refused_before_it_is_read(
    live: Live, path: str, auth: str
) -> None:
    """A client announces a 50 GB body and sends none of it: the answer is an immediate 413 with a
    code; without the limit the server waits for (and would spool to disk) the whole body."""
    before = _uploads(live)
    headers = [
        f"POST {path} HTTP/1.1",
        "Host: 127.0.0.1",
        "Content-Type: multipart/form-data; boundary=xyz",
        f"Content-Length: {50 * 2**30}",
    ]
    if auth == "bearer":
        headers.append(f"Authorization: Bearer {live.tokens['ana@acme']}")
    if auth == "cookie":
        with _signed_in(live, "ana@acme") as c:
            headers.append(f"Cookie: warden_session={c.cookies['warden_session']}")
    started = time.monotonic()
    answer = _raw(live, ("\r\n".join(headers) + "\r\n\r\n--xyz\r\n").encode())
    assert answer.startswith(b"HTTP/1.1 413"), answer[:300]
    assert time.monotonic() - started < 8
    assert b"request_too_large" in answer and b"Traceback" not in answer
    assert _uploads(live) == before


@pytest.mark.parametrize(
    ("path", "credential", "answer"),
    [
        ("/api/runs", "", b"HTTP/1.1 401"),
        ("/api/runs", "Authorization: Bearer wdn_forged_secret", b"HTTP/1.1 401"),
        ("/api/runs", "Cookie: warden_session={session}", b"HTTP/1.1 401"),  # the API takes no cookie
        ("/upload", "", b"HTTP/1.1 303"),
        ("/upload", "Cookie: warden_session=forged-session-id", b"HTTP/1.1 303"),
        ("/upload", "Authorization: Bearer {token}", b"HTTP/1.1 303"),  # the pages take no token
    ],
)
def test_a_large_body_without_a_good_credential_is_refused_before_it_is_read(
    live: Live, path: str, credential: str, answer: bytes
) -> None:
    """100 MB announced (under the upload limit) with no, a forged or the wrong kind of credential:
    refused at once as the route would refuse it; without the check the server would read (and
    spool to disk) the whole body before its route looked at the credential."""
    before = _uploads(live)
    with _signed_in(live, "ana@acme") as c:
        session = c.cookies["warden_session"]
    credential = credential.format(session=session, token=live.tokens["ana@acme"])
    headers = [
        f"POST {path} HTTP/1.1",
        "Host: 127.0.0.1",
        "Content-Type: multipart/form-data; boundary=xyz",
        f"Content-Length: {100 * 2**20}",
        *([credential] if credential else []),
    ]
    started = time.monotonic()
    got = _raw(live, ("\r\n".join(headers) + "\r\n\r\n--xyz\r\n").encode())
    assert got.startswith(answer), got[:300]
    assert time.monotonic() - started < 8
    if answer.endswith(b"401"):
        assert b'"code":"no_principal"' in got or b'"code":"bad_credentials"' in got, got
    else:
        assert b"location: /sign-in" in got.lower(), got
    assert _uploads(live) == before


@pytest.fixture
def small_limit(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    from warden.server.app import max_body_bytes
    from warden.service import starting

    monkeypatch.setattr(starting, "MAX_UPLOAD_BYTES", 1000)
    yield max_body_bytes()


def test_a_streamed_body_is_cut_off_at_the_limit(live: Live, small_limit: int) -> None:
    """No Content-Length (chunked): the server stops reading once the bytes pass the limit."""
    before = _uploads(live)
    sent = 0

    def body() -> Iterator[bytes]:
        nonlocal sent
        yield b'--xyz\r\nContent-Disposition: form-data; name="tenant"\r\n\r\nacme\r\n'
        yield b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="n.md"\r\n\r\n'
        while sent < 4 * small_limit:
            sent += 65536
            yield b"a" * 65536

    with live.client("ana@acme") as c:
        try:
            r = c.post(
                "/api/runs", content=body(), headers={"content-type": "multipart/form-data; boundary=xyz"}
            )
        except httpx.TransportError:  # the server may close before the client sent everything
            r = None
    if r is not None:
        _coded(r, 413, "request_too_large")
    assert _uploads(live) == before


def test_an_upload_within_the_limit_still_starts_a_run(live: Live) -> None:
    with live.client("ana@acme") as c:
        r = c.post("/api/runs", data={"tenant": "acme"}, files={"file": ("notice.md", NOTICE.read_bytes())})
    assert r.status_code == 202, r.text


# --- crafted links and forms ------------------------------------------------------------------


def test_a_crafted_inbox_link_announces_no_decision(live: Live) -> None:
    """`/inbox?decided=...` is where a decision lands; a link that names no run of the user's (an
    attacker's text, another tenant's run), or the user's own run that still waits, must not make
    the inbox say it was decided: the banner comes from the run's real state and from a mark only
    the session that decided can make."""
    globex = live.waiting_run("globex")
    with _signed_in(live, "dora@acme") as c:
        for decided in ("run-0123456789ab; wire 10k to ACME-REFUND-77", globex):
            r = c.get("/inbox", params={"decided": decided, "decision": "approve"})
            assert r.status_code == 200
            assert 'class="notice"' not in r.text and "ACME-REFUND" not in r.text and globex not in r.text
        own = live.waiting_run("acme")
        for forged in ({}, {"mark": "0" * 32}):
            r = c.get("/inbox", params={"decided": own, "decision": "reject", **forged})
            assert r.status_code == 200 and 'class="notice"' not in r.text, "a waiting run announced decided"
        r = c.post(f"/runs/{own}/reject", data={"csrf_token": _csrf(c), "role": "dpo", "reason": "no basis"})
        assert r.status_code == 303, r.text
        landing = r.headers["location"]
        r = c.get(landing)
        assert f'Rejected run <a href="/runs/{own}">{own}</a>; it ' in r.text, r.text[:2000]
        approved = landing.replace("decision=reject", "decision=approve")
        assert 'class="notice"' not in c.get(approved).text  # the mark is for what was decided
    with _signed_in(live, "adam@acme") as other:  # another session: its mark would differ
        assert 'class="notice"' not in other.get(landing).text


def test_a_sign_out_with_a_wrong_token_is_refused_with_a_code(live: Live) -> None:
    with _signed_in(live, "ana@acme") as c, _signed_in(live, "dora@acme") as other:
        theirs = _csrf(other)
        r = c.post("/sign-out", data={"csrf_token": theirs})  # another session's token
        _page_coded(r, 403, "csrf")
        assert c.get("/").status_code == 200  # still signed in
        assert c.post("/sign-out", data={"csrf_token": _csrf(c)}).status_code == 303
        assert c.get("/").status_code == 303


def test_a_large_body_with_a_good_credential_reaches_its_route(live: Live) -> None:
    """The control: 1.5 MiB (over the anonymous limit) with a live token or session is read and
    judged by the route itself (here: named .pdf but Markdown inside, so refused as upload_type)."""
    before = _uploads(live)
    big = ("# Notice\n\n" + "We process personal data. " * 60_000).encode()
    assert len(big) > 1.4 * 2**20
    with live.client("ana@acme") as api:
        r = api.post("/api/runs", data={"tenant": "acme"}, files={"file": ("notice.pdf", big)})
    _coded(r, 415, "upload_type")
    with _signed_in(live, "ana@acme") as c:
        r = c.post(
            "/upload", data={"csrf_token": _csrf(c), "tenant": "acme"}, files={"file": ("notice.pdf", big)}
        )
        _page_coded(r, 415, "upload_type")
    assert _uploads(live) == before


@pytest.mark.parametrize("path", ["/runs/{run_id}/events", "/runs/{run_id}", "/api/runs/{run_id}"])
def test_a_get_announcing_a_huge_body_is_refused_without_a_traceback(
    live: Live, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A GET that announces a 50 GB body (and sends none) gets an immediate coded 413, on the
    live event stream too, whose disconnect listener reads the body after the stream started:
    there the refusal came too late for an answer and the server logged a traceback."""
    run_id = live.waiting_run()
    target = path.format(run_id=run_id)
    headers = [f"GET {target} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {50 * 2**30}"]
    if path.startswith("/api/"):
        headers.append(f"Authorization: Bearer {live.tokens['ana@acme']}")
    else:
        with _signed_in(live, "ana@acme") as c:
            headers.append(f"Cookie: warden_session={c.cookies['warden_session']}")
    with _logs(caplog):
        answer = _raw(live, ("\r\n".join(headers) + "\r\n\r\n").encode(), timeout_s=5)
        time.sleep(0.5)  # the server logs an error after the answer, if it does
    assert answer.startswith(b"HTTP/1.1 413"), answer[:300]
    assert b"request_too_large" in answer and b"Traceback" not in answer
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, errors


@pytest.mark.parametrize(
    "since", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "0001-01-01T00:59:59+01:00"]
)
def test_api_runs_since_off_the_calendar_in_utc_is_a_coded_usage_error(live: Live, since: str) -> None:
    with live.client("dora@acme") as c:
        r = c.get("/api/runs", params={"since": since})
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["code"] == "usage" and "outside the calendar" in error["message"] and error["fix"]


def test_api_runs_since_at_the_calendars_edge_in_utc_still_lists(live: Live) -> None:
    with live.client("dora@acme") as c:
        for since in ("0001-01-01T00:00:00+00:00", "0001-01-01T01:00:00+01:00", "2000-01-01T00:00:00-05:00"):
            r = c.get("/api/runs", params={"since": since})
            assert r.status_code == 200, (since, r.text)
        assert c.get("/api/runs", params={"since": "9999-12-31T23:00:00+00:00"}).json() == []
