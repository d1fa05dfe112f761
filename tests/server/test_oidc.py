"""OIDC sign-in against a real provider on loopback (tests/server/_oidc_provider.py), through
the real Warden server over HTTP: the happy path end to end, and the attacks a sign-in must
refuse (state, replay, signature, audience, expiry, nonce, strangers), tenancy for OIDC users,
and an OIDC-signed approver satisfying ``approval.require_authenticated``."""

from __future__ import annotations

import copy
import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
import yaml
from tests.server._oidc_provider import CLIENT_ID, Provider, running_provider
from tests.server.conftest import PASSWORD, POLICY, Live, free_port, serving

from warden.server import create_app

SECRET_ENV = "WARDEN_TEST_OIDC_SECRET"
EMAILS = {
    "ana@acme": "ana@acme.example",
    "dora@acme": "dora@acme.example",
    "adam@acme": "adam@acme.example",
    "gil@globex": "gil@globex.example",
    "gwen@globex": "gwen@globex.example",
}


def _policy(issuer: str) -> dict[str, Any]:
    """The bundled policy with absolute paths (it is written elsewhere), e-mail addresses for
    its users, OIDC through the test provider, and acme's decisions only from people signed in."""
    data = yaml.safe_load(POLICY.read_text())
    base = POLICY.parent
    for name, tenant in data["tenants"].items():
        tenant["allowed_roots"] = [str((base / r).resolve()) for r in tenant["allowed_roots"]]
        tenant["document_roots"] = [str((base / r).resolve()) for r in tenant["document_roots"]]
        tenant["systems"] = [
            {**s, "location": str((base / s["location"]).resolve())} for s in tenant["systems"]
        ]
        for user, spec in tenant["users"].items():
            spec["email"] = EMAILS[user]
        if name == "acme":
            tenant["approval"]["require_authenticated"] = True
    data["oidc"] = {
        "name": "Test IdP",
        "issuer": issuer,
        "client_id": CLIENT_ID,
        "client_secret_env": SECRET_ENV,
        "scopes": ["openid", "email"],
        "user_claim": "email",
        "match": "email",
    }
    return copy.deepcopy(data)


@dataclass
class OidcLive:
    live: Live
    provider: Provider

    def client(self, **kwargs: Any) -> httpx.Client:
        return self.live.client(**kwargs)

    def vouch_for(
        self, user_or_email: str, *, tamper: str | None = None, without: tuple[str, ...] = (), **claims: Any
    ) -> None:
        """Who the provider signs in next, and how its ID token is spoiled (if at all): `claims`
        added or replaced, `without` left out (a verified e-mail unless told otherwise)."""
        email = EMAILS.get(user_or_email, user_or_email)
        identity = {"sub": f"sub-{email}", "email": email, "email_verified": True, **claims}
        self.provider.identity = {k: v for k, v in identity.items() if k not in without}
        self.provider.tamper = tamper


@pytest.fixture(scope="module")
def oidc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcLive]:
    from tests.server._oidc_provider import CLIENT_SECRET

    tmp = tmp_path_factory.mktemp("oidc")
    with running_provider(free_port()) as provider:
        policy = tmp / "policy.yaml"
        policy.write_text(yaml.safe_dump(_policy(provider.issuer), sort_keys=False))
        before = os.environ.get(SECRET_ENV)
        os.environ[SECRET_ENV] = CLIENT_SECRET  # the policy names the variable, never the secret
        home = tmp / "home"
        app = create_app(home, policy=policy, workers=2)
        # only the analysts have passwords (to upload through the API); the rest sign in by OIDC
        tokens = {}
        for user, tenant in (("ana@acme", "acme"), ("gil@globex", "globex")):
            app.state.service.accounts.add_user(user, tenant, PASSWORD)
            tokens[user] = app.state.service.accounts.issue_token(user, timedelta(days=1)).secret
        try:
            with serving(app) as port:
                yield OidcLive(Live(f"http://127.0.0.1:{port}", app, home, tokens), provider)
        finally:
            if before is None:
                os.environ.pop(SECRET_ENV, None)
            else:
                os.environ[SECRET_ENV] = before


def _to_callback(c: httpx.Client) -> str:
    """Begin a sign-in and let the provider sign in; the callback URL it sends the browser to."""
    start = c.get("/sign-in/oidc")
    assert start.status_code == 303, start.text
    assert start.headers["location"].startswith("http://127.0.0.1:")
    assert "code_challenge=" in start.headers["location"] and "nonce=" in start.headers["location"]
    back = c.get(start.headers["location"])
    assert back.status_code == 302, back.text
    return str(back.headers["location"])


def _sign_in(o: OidcLive, c: httpx.Client, who: str, **kwargs: Any) -> httpx.Response:
    o.vouch_for(who, **kwargs)
    return c.get(_to_callback(c))


def _code(r: httpx.Response) -> str | None:
    """The error code a refused sign-in's page shows beside its fix."""
    found = re.search(r'data-code="([a-z_]+)"', r.text)
    return found[1] if found else None


def _events(o: OidcLive, event: str) -> list[dict[str, Any]]:
    found = o.live.service.store.query(
        "SELECT tenant, actor, payload_json FROM audit_events "
        "WHERE event = ? AND run_id IS NULL ORDER BY seq",
        [event],
    )
    return [{**e, "payload": json.loads(e["payload_json"])} for e in found]


def test_the_sign_in_page_offers_the_provider(oidc: OidcLive) -> None:
    with oidc.client() as c:
        page = c.get("/sign-in")
    assert page.status_code == 200
    assert 'href="/sign-in/oidc"' in page.text and "Sign in with Test IdP" in page.text


def test_happy_path_end_to_end_following_redirects(oidc: OidcLive) -> None:
    with oidc.client() as c:
        assert _sign_in(oidc, c, "dora@acme").status_code == 200
        before = c.cookies["warden_session"]  # rotation: signing in again ends this session
        page = c.get("/sign-in")
        link = re.search(r'href="(/sign-in/oidc)"', page.text)
        assert link
        done = c.get(link[1], follow_redirects=True)  # -> provider /authorize -> Warden's callback
        assert done.status_code == 200, done.text
        assert [r.url.path for r in done.history] == ["/sign-in/oidc", "/authorize"]
        assert "Signed in as dora@acme" in done.text
        assert '<meta http-equiv="refresh" content="0; url=/">' in done.text
        cookie = next(h for h in done.headers.get_list("set-cookie") if h.startswith("warden_session="))
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie
        session = c.cookies["warden_session"]
        assert session != before
        home = c.get("/")
        assert home.status_code == 200 and "Signed in as dora@acme" in home.text
    from warden.service.errors import BadCredentials

    with pytest.raises(BadCredentials):
        oidc.live.service.accounts.session(before)
    found = oidc.live.service.accounts.session(session)
    assert found.principal.user == "dora@acme" and found.principal.auth == "oidc"
    assert found.principal.authenticated
    ok = [e for e in _events(oidc, "sign_in_succeeded") if e["actor"] == "dora@acme"]
    assert ok and ok[-1]["payload"]["auth"] == "oidc" and ok[-1]["tenant"] == "acme"
    assert ok[-1]["payload"]["issuer"] == oidc.provider.issuer
    from tests.server._oidc_provider import CLIENT_SECRET

    text = json.dumps([e["payload"] for e in _events(oidc, "sign_in_succeeded")])
    assert CLIENT_SECRET not in text and session not in text


def test_sign_out_ends_an_oidc_session(oidc: OidcLive) -> None:
    with oidc.client() as c:
        assert _sign_in(oidc, c, "dora@acme").status_code == 200
        page = c.get("/")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert csrf
        assert c.post("/sign-out", data={"csrf_token": csrf[1]}).status_code == 303
        assert c.get("/").status_code == 303


def test_a_wrong_or_missing_state_is_refused(oidc: OidcLive) -> None:
    oidc.vouch_for("dora@acme")
    with oidc.client() as c:
        url = _to_callback(c)
        parts = urlsplit(url)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        forged = c.get(f"{parts.path}?{urlencode({**query, 'state': 'forged-state'})}")
        assert forged.status_code == 400 and _code(forged) == "oidc_state"
        assert "state does not match" in forged.text
        assert "warden_session" not in c.cookies
    # a callback URL carried to another browser (login CSRF): that browser never began it
    with oidc.client() as other:
        stolen = other.get(url)
        assert stolen.status_code == 400 and _code(stolen) == "oidc_state"
        assert "warden_session" not in other.cookies
    assert oidc.provider.codes[query["code"]]["used"] is False  # refused before the code was sent


def test_a_replayed_callback_or_code_is_refused(oidc: OidcLive) -> None:
    with oidc.client() as c:
        url = _sign_in_url = _to_callback_for(oidc, c, "dora@acme")
        first = c.get(url)
        assert first.status_code == 200 and "warden_session" in c.cookies
        state = parse_qs(urlsplit(url).query)["state"][0]
        c.cookies.set("warden_oidc", state, path="/sign-in/oidc")  # the attacker has the cookie too
        again = c.get(_sign_in_url)
        assert again.status_code == 400 and _code(again) == "oidc_state"
        assert "already used or has expired" in again.text
    # the old code under a fresh sign-in: the provider refuses it (codes are single use)
    with oidc.client() as c:
        fresh = _to_callback_for(oidc, c, "dora@acme")
        old_code = parse_qs(urlsplit(url).query)["code"][0]
        parts = urlsplit(fresh)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        replay = c.get(f"{parts.path}?{urlencode({**query, 'code': old_code})}")
        assert replay.status_code == 401 and _code(replay) == "oidc_refused"
        assert "invalid_grant" in replay.text
        assert "warden_session" not in c.cookies


def _to_callback_for(o: OidcLive, c: httpx.Client, who: str) -> str:
    o.vouch_for(who)
    return _to_callback(c)


@pytest.mark.parametrize(
    ("tamper", "said"),
    [
        ("other_key", "BadSignatureError"),
        ("wrong_aud", "aud"),
        ("wrong_aud_with_azp", "aud"),
        ("expired", "expired"),
        ("wrong_nonce", "nonce"),
        ("wrong_iss", "iss"),
    ],
)
def test_a_spoiled_id_token_is_refused(oidc: OidcLive, tamper: str, said: str) -> None:
    with oidc.client() as c:
        r = _sign_in(oidc, c, "dora@acme", tamper=tamper)
        assert r.status_code == 401 and _code(r) == "oidc_refused", r.text
        shown = re.search(r'<p class="error" role="alert">([^<]*)</p>', r.text)
        assert shown and shown[1].startswith("The ID token was refused"), r.text
        assert said.lower() in shown[1].lower(), shown[1]
        assert "warden_session" not in c.cookies
        assert c.get("/").status_code == 303
    failed = [e for e in _events(oidc, "sign_in_failed") if e["payload"].get("auth") == "oidc"]
    assert failed and "ID token refused" in failed[-1]["payload"]["reason"]


def test_an_identity_the_policy_does_not_name_is_refused(oidc: OidcLive) -> None:
    with oidc.client() as c:
        r = _sign_in(oidc, c, "mallory@elsewhere.example")
        assert r.status_code == 403 and _code(r) == "oidc_unknown_user"
        assert "is not a user of this Warden" in r.text
        assert "warden_session" not in c.cookies
        # an unverified address of a real user is not that user
        r = _sign_in(oidc, c, "dora@acme", email_verified=False)
        assert r.status_code == 403 and "warden_session" not in c.cookies
        # nor one the provider does not say it verified (no claim, or a string, not true)
        r = _sign_in(oidc, c, "dora@acme", without=("email_verified",))
        assert r.status_code == 403 and _code(r) == "oidc_unknown_user"
        r = _sign_in(oidc, c, "dora@acme", email_verified="true")
        assert r.status_code == 403 and "warden_session" not in c.cookies
        # a claim with a control character names nobody (and never reaches the ledger's SQL)
        r = _sign_in(oidc, c, "dora@acme.example\x00")
        assert r.status_code == 403 and _code(r) == "oidc_unknown_user"
    failed = _events(oidc, "sign_in_failed")
    assert any("mallory@elsewhere.example" in e["payload"]["reason"] for e in failed)


def test_without_oidc_configured_the_link_is_absent(live: Live) -> None:
    with live.client() as c:
        assert "Sign in with" not in c.get("/sign-in").text
        r = c.get("/sign-in/oidc")
        assert r.status_code == 404 and _code(r) == "oidc_not_configured"


def test_an_oidc_user_of_globex_sees_no_acme_run(oidc: OidcLive) -> None:
    acme_run = oidc.live.waiting_run("acme")
    with oidc.client() as c:
        assert _sign_in(oidc, c, "gwen@globex").status_code == 200
        runs = c.get("/runs")
        assert runs.status_code == 200 and acme_run not in runs.text
        inbox = c.get("/inbox")
        assert inbox.status_code == 200 and acme_run not in inbox.text
        theirs = c.get(f"/runs/{acme_run}")
        missing = c.get("/runs/run-000000000000")
        assert theirs.status_code == missing.status_code == 404
        assert theirs.text.replace(acme_run, "X") == missing.text.replace("run-000000000000", "X")
        assert c.get(f"/runs/{acme_run}/review").status_code == 404


def test_an_oidc_approver_satisfies_require_authenticated(oidc: OidcLive) -> None:
    run_id = oidc.live.waiting_run("acme")
    # the asserted identity of the local CLI is refused under this policy
    from warden.service.errors import RunRefused

    asserted = oidc.live.service.principal("dora@acme")
    with pytest.raises(RunRefused) as refused:
        oidc.live.service.claim_decision(asserted, run_id, "approve", role="dpo")
    assert refused.value.code == "authentication_required"

    with oidc.client() as c:
        assert _sign_in(oidc, c, "dora@acme").status_code == 200
        inbox = c.get("/inbox")
        form = re.search(
            rf'action="/runs/{run_id}/approve">\s*<input type="hidden" name="csrf_token" value="([^"]+)">'
            r'\s*<input type="hidden" name="role" value="([^"]+)">'
            r'\s*<input type="hidden" name="runbook_sha256" value="([^"]+)">',
            inbox.text,
        )
        assert form, inbox.text
        done = c.post(
            f"/runs/{run_id}/approve",
            data={"csrf_token": form[1], "role": form[2], "runbook_sha256": form[3]},
        )
        assert done.status_code == 303 and "decided=" in done.headers["location"]
    deadline = time.monotonic() + 60
    while True:
        decided = oidc.live.service.store.query(
            "SELECT approver, auth, decision FROM approvals WHERE run_id = ?", [run_id]
        )
        if decided or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert decided == [{"approver": "dora@acme", "auth": "oidc", "decision": "approve"}]


CHROMIUM = Path("/usr/bin/chromium")


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's Chromium is not at /usr/bin/chromium")
def test_a_browser_signs_in_through_a_provider_on_another_site(tmp_path: Path) -> None:
    """In Chromium, with the provider on another site (localhost vs 127.0.0.1) whose page the
    person follows back (so the navigation to the callback is cross-site): the state cookie
    (SameSite=Lax) comes back with it, and the page after the callback lands on "/" signed in (a
    redirect there would be part of the cross-site navigation, and the Strict session cookie
    would be held back)."""
    from playwright.sync_api import sync_playwright
    from tests.server._oidc_provider import CLIENT_SECRET

    with running_provider(free_port(), name="localhost") as provider:
        policy = tmp_path / "policy.yaml"
        policy.write_text(yaml.safe_dump(_policy(provider.issuer), sort_keys=False))
        os.environ[SECRET_ENV] = CLIENT_SECRET
        app = create_app(tmp_path / "home", policy=policy, workers=1, orphan_grace_s=None)
        provider.identity = {"sub": "sub-dora", "email": EMAILS["dora@acme"], "email_verified": True}
        provider.interactive = True
        try:
            with serving(app) as port, sync_playwright() as pw:
                browser = pw.chromium.launch(
                    executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox", "--disable-gpu"]
                )
                try:
                    page = browser.new_page(base_url=f"http://127.0.0.1:{port}")
                    page.goto("/sign-in")
                    page.click("text=Sign in with Test IdP")
                    page.wait_for_url(f"{provider.issuer}/authorize*", timeout=30_000)
                    page.click("#continue")
                    page.wait_for_url(f"http://127.0.0.1:{port}/", timeout=30_000)
                    page.wait_for_selector("text=Signed in as dora@acme", timeout=30_000)
                    cookies = {c["name"]: c for c in page.context.cookies()}
                    assert cookies["warden_session"]["sameSite"] == "Strict"
                    assert cookies["warden_session"]["httpOnly"]
                finally:
                    browser.close()
        finally:
            os.environ.pop(SECRET_ENV, None)


def test_an_e_mail_matches_folding_ascii_case_only() -> None:
    """A provider that lets someone register `\u212aate@acme.example` (the Kelvin sign) must not
    name the user whose address is kate@acme.example: `str.lower` folds the sign into "k"."""
    from warden.service.oidc import email_key

    assert email_key(" Kate@ACME.example ") == email_key("kate@acme.example")
    assert email_key("\u212aate@acme.example") != email_key("kate@acme.example")
    assert email_key("\u212bsa@acme.example") != email_key("\u00e5sa@acme.example")
