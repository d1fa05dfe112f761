"""Sign-in, sessions, CSRF, throttling and API tokens, over real HTTP."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.server.conftest import PASSWORD, Live

CSP = "default-src 'self'; script-src 'self'"


def _form_token(client: httpx.Client) -> str:
    page = client.get("/sign-in")
    assert page.status_code == 200
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found
    return found[1]


def _sign_in(client: httpx.Client, user: str, password: str = PASSWORD) -> httpx.Response:
    token = _form_token(client)
    return client.post("/sign-in", data={"user": user, "password": password, "csrf_token": token})


def test_sign_in_sets_a_strict_http_only_session_cookie(live: Live) -> None:
    with live.client() as c:
        r = _sign_in(c, "dora@acme")
        assert r.status_code == 303 and r.headers["location"] == "/"
        cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith("warden_session="))
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie
        assert "Secure" not in cookie  # plain loopback HTTP, no --secure-cookies
        home = c.get("/")
        assert home.status_code == 200 and "Signed in as dora@acme" in home.text


def test_session_rotates_at_sign_in_and_ends_at_sign_out(live: Live) -> None:
    with live.client() as c:
        _sign_in(c, "dora@acme")
        first = c.cookies["warden_session"]
        _sign_in(c, "dora@acme")  # signing in again (e.g. on a shared browser) rotates the id
        second = c.cookies["warden_session"]
        assert first != second
    with live.client(cookies={"warden_session": first}) as old:
        assert old.get("/").status_code == 303  # the planted / previous id is dead
    with live.client(cookies={"warden_session": second}) as c:
        page = c.get("/")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert csrf
        out = c.post("/sign-out", data={"csrf_token": csrf[1]})
        assert out.status_code == 303 and out.headers["location"] == "/sign-in"
    with live.client(cookies={"warden_session": second}) as after:
        assert after.get("/").status_code == 303


def test_form_posts_without_the_csrf_token_are_refused(live: Live) -> None:
    with live.client() as c:
        c.get("/sign-in")
        refused = c.post("/sign-in", data={"user": "dora@acme", "password": PASSWORD, "csrf_token": "forged"})
        assert refused.status_code == 403 and "warden_session" not in c.cookies
        _sign_in(c, "dora@acme")
        session = c.cookies["warden_session"]
        assert c.post("/sign-out", data={"csrf_token": "forged"}).status_code == 403
        assert c.post("/sign-out", data={}).status_code == 403
    with live.client(cookies={"warden_session": session}) as c:
        assert c.get("/").status_code == 200  # the forged sign-out ended nothing


def test_sign_in_is_throttled_after_five_failures(live: Live) -> None:
    with live.client() as c:
        for _ in range(5):
            assert _sign_in(c, "adam@acme", "wrong password").status_code == 401
        throttled = _sign_in(c, "adam@acme")  # even the right password, while throttled
        assert throttled.status_code == 429 and "too many failed sign-ins" in throttled.text
        api = c.post("/api/tokens", json={"user": "adam@acme", "password": PASSWORD})
        assert api.status_code == 429 and api.json()["error"]["code"] == "sign_in_throttled"


def test_unknown_users_and_wrong_passwords_answer_alike(live: Live) -> None:
    with live.client() as c:
        wrong = c.post("/api/tokens", json={"user": "ana@acme", "password": "not it"})
        ghost = c.post("/api/tokens", json={"user": "mallory@acme", "password": "not it"})
        assert wrong.status_code == ghost.status_code == 401
        assert wrong.content == ghost.content


def test_token_issue_use_expiry_and_revocation(live: Live) -> None:
    with live.client() as c:
        issued = c.post("/api/tokens", json={"user": "ana@acme", "password": PASSWORD})
        assert issued.status_code == 200
        token = issued.json()["token"]
        me = c.get("/api/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200 and me.json()["user"] == "ana@acme" and me.json()["auth"] == "token"
        expired = live.token("ana@acme", timedelta(seconds=-1))
        r = c.get("/api/me", headers={"Authorization": f"Bearer {expired.secret}"})
        assert r.status_code == 401 and r.json()["error"]["code"] == "bad_credentials"
        live.service.accounts.revoke_token(issued.json()["token_id"])
        r = c.get("/api/me", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"


def test_credential_events_are_audited_without_secrets(live: Live) -> None:
    from warden.store import audit

    issued = live.token("gil@globex")
    live.service.accounts.revoke_token(issued.token_id)
    with live.service.store.connect(read_only=True) as con:
        report = audit.verify_chain(con, "globex")
        events = live.service.store.query(
            "SELECT event, actor, payload_json FROM audit_events WHERE tenant = 'globex' AND run_id IS NULL"
        )
    assert report.ok
    names = {e["event"] for e in events}
    assert {"account_added", "password_set", "token_issued", "token_revoked"} <= names
    assert all(issued.secret not in e["payload_json"] and PASSWORD not in e["payload_json"] for e in events)
    assert {e["actor"] for e in events if e["event"] == "token_revoked"} == {"operator@host"}


@pytest.mark.parametrize(
    "path", ["/sign-in", "/api/runs", "/api/runs/run-0123456789ab", "/nowhere", "/healthz"]
)
def test_security_headers_on_every_response(live: Live, path: str) -> None:
    with live.client("ana@acme") as c:
        r = c.get(path)
    assert r.headers["content-security-policy"].startswith(CSP)
    assert "unsafe-inline" not in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"


def test_healthz_checks_store_and_engine(live: Live) -> None:
    with live.client() as c:
        r = c.get("/healthz")
    assert r.status_code == 200 and r.json()["store"] == "ok" and r.json()["engine"] == "ok"


# --- the live view (server-sent events) ends with its session --------------------------------


def _kill_session(service: object, how: str) -> None:
    """End dora's sessions the way an operator or the clock does (sign-out: tests/attacks)."""
    from warden.store._util import now

    svc: Any = service
    if how == "a new password":
        svc.accounts.set_password("dora@acme", PASSWORD)  # the user's sessions end
        return
    with svc.store.connect() as con:
        if how == "expired":
            con.execute(
                """UPDATE sessions SET expires_at = ? WHERE "user" = 'dora@acme' AND ended_at IS NULL""",
                [now() - timedelta(seconds=1)],
            )
        else:  # "account disabled"
            con.execute("""UPDATE accounts SET disabled = TRUE WHERE "user" = 'dora@acme'""")


def test_the_live_view_ends_when_its_session_expires_is_ended_or_its_account_is_disabled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One running tree (a step held until a signal file appears); for each way a session dies,
    dora opens the live view, sees a snapshot, loses the session: the stream sends `ended` and
    closes within a poll or two, and no progress after it."""
    import json
    import time

    import yaml
    from tests.graph._wardencli import PLUGINS, acme_policy_data, runbook, slow, write_yaml
    from tests.server.conftest import NOTICE, csrf_of, serving

    from warden.catalogue import Catalogue
    from warden.server import create_app
    from warden.server.events import ENDED
    from warden.service import Service

    monkeypatch.setenv("WARDEN_ANALYSER_PATH", str(PLUGINS))
    monkeypatch.setenv("WTEST_SIGNALS", str(tmp_path))
    policy = write_yaml(tmp_path / "policy.yaml", acme_policy_data())
    service = Service(tmp_path / "home", policy=policy, catalogue=Catalogue.discover())
    for user in ("ana@acme", "dora@acme"):
        service.accounts.add_user(user, "acme", PASSWORD)
    tokens = {
        u: service.accounts.issue_token(u, timedelta(hours=1)).secret for u in ("ana@acme", "dora@acme")
    }
    book = runbook("sse-held", [slow("hold", seconds=120, until="release")])
    app = create_app(
        tmp_path / "home", service=service, workers=2, escalate_every_s=None, orphan_grace_s=None
    )
    outcomes: dict[str, tuple[list[str], float]] = {}
    with serving(app) as port:
        url = f"http://127.0.0.1:{port}"

        def api(user: str) -> httpx.Client:
            return httpx.Client(base_url=url, timeout=60, headers={"Authorization": f"Bearer {tokens[user]}"})

        with api("ana@acme") as ana:
            started = ana.post(
                "/api/runs",
                data={"tenant": "acme", "runbook_yaml": yaml.safe_dump(book)},
                files={"file": ("notice.md", NOTICE.read_bytes())},
                params={"wait": 30},
            )
        assert started.status_code == 202, started.text
        run_id = started.json()["run_id"]
        with api("dora@acme") as dora:
            decided = dora.post(f"/api/runs/{run_id}/decision", json={"decision": "approve", "role": "dpo"})
            assert decided.status_code == 200, decided.text
            deadline = time.monotonic() + 30
            while dora.get(f"/api/runs/{run_id}/tree").json()[0]["status"] != "running":
                assert time.monotonic() < deadline, "the approved tree did not start"
                time.sleep(0.05)
        with api("dora@acme") as dora:  # a token opens no stream (so none can outlive its revocation)
            assert dora.get(f"/runs/{run_id}/events").status_code == 401
        try:
            for how in ("expired", "a new password", "account disabled"):
                with httpx.Client(base_url=url, timeout=60) as browser:
                    form = browser.get("/sign-in").text
                    data = {"user": "dora@acme", "password": PASSWORD, "csrf_token": csrf_of(form)}
                    assert browser.post("/sign-in", data=data).status_code == 303
                    events: list[str] = []
                    with browser.stream("GET", f"/runs/{run_id}/events") as stream:
                        assert stream.status_code == 200
                        event, killed_at = None, 0.0
                        for line in stream.iter_lines():
                            if line.startswith("event: "):
                                event = line[len("event: ") :]
                            elif line.startswith("data: "):
                                events.append(event or "")
                                if event == "ended":
                                    assert json.loads(line[len("data: ") :]) == ENDED
                                if event == "progress" and not killed_at:
                                    _kill_session(service, how)
                                    killed_at = time.monotonic()
                    outcomes[how] = (events, time.monotonic() - killed_at)
                    assert browser.get(f"/runs/{run_id}").status_code == 303  # the pages agree
                with service.store.connect() as con:  # dora's account back for the next case
                    con.execute("""UPDATE accounts SET disabled = FALSE WHERE "user" = 'dora@acme'""")
        finally:
            (tmp_path / "release").write_text("")
    for how, (events, took) in outcomes.items():
        assert events == ["progress", "ended"], (how, events)
        assert took < 10, (how, took)  # a poll or two, not MAX_STREAM_S


# --- a token's use is recorded, at most once a minute ------------------------------------------


def test_a_tokens_use_is_recorded_at_most_once_a_minute(live: Live) -> None:
    """`warden users list` shows each token's last use; a busy client writes it once a minute,
    not on every request."""
    from warden.service.accounts import TOKEN_USE_EVERY

    issued = live.token("ana@acme")

    def last_used() -> Any:
        found = {t["token_id"]: t for a in live.service.accounts.list() for t in a["tokens"]}
        return found[issued.token_id]["last_used_at"]

    headers = {"Authorization": f"Bearer {issued.secret}"}
    assert last_used() is None
    with live.client() as c:
        assert c.get("/api/me", headers=headers).status_code == 200
        first = last_used()
        assert first is not None
        for _ in range(3):
            assert c.get("/api/me", headers=headers).status_code == 200
        assert last_used() == first  # within the minute: nothing written
        with live.service.store.connect() as con:  # the last use recorded is a minute old
            con.execute(
                "UPDATE api_tokens SET last_used_at = ? WHERE token_id = ?",
                [first - TOKEN_USE_EVERY, issued.token_id],
            )
        assert c.get("/api/me", headers=headers).status_code == 200
        assert last_used() > first - TOKEN_USE_EVERY
