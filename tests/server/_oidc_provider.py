"""A real OpenID Connect provider for the tests, served by uvicorn on a loopback port.

It does what a provider does for the authorization code flow with PKCE: discovery metadata,
an /authorize endpoint that signs in whoever the test says (no login form) and redirects back
with a single-use code, a /token endpoint that checks the client's secret, the redirect URI and
the PKCE verifier and answers with an RS256-signed ID token (joserfc), and the JWKS. A test
can make it misbehave the ways an attacker or a broken provider would (``tamper``).
"""

from __future__ import annotations

import base64
import hashlib
import html
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import uvicorn
from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

CLIENT_ID = "warden-tests"
CLIENT_SECRET = "provider-secret-for-tests-only"
KID = "test-key-1"


@dataclass
class Provider:
    issuer: str = ""
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": KID}))
    identity: dict[str, Any] = field(default_factory=dict)
    """The claims the next sign-in vouches for (sub, email, ...)."""
    tamper: str | None = None
    """None, or how the next ID token is wrong: other_key, wrong_aud, expired, wrong_nonce, wrong_iss."""
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    token_requests: int = 0
    interactive: bool = False
    """Show a page whose link the person follows back (as a real provider's sign-in form does):
    the navigation back to Warden is then started by the provider's page, another site."""

    def sign(self, claims: dict[str, Any]) -> str:
        key = self.key
        if self.tamper == "other_key":  # same key id, another key: only the signature tells
            key = RSAKey.generate_key(2048, parameters={"kid": KID})
        return jwt.encode({"alg": "RS256", "kid": KID}, claims, key)

    def id_token(self, grant: dict[str, Any]) -> str:
        at = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": grant["identity"].get("sub", "subject-1"),
            "aud": CLIENT_ID,
            "iat": at,
            "exp": at + 300,
            "nonce": grant["nonce"],
            **{k: v for k, v in grant["identity"].items() if k != "sub"},
        }
        if self.tamper == "wrong_aud":
            claims["aud"] = "another-client"
        elif self.tamper == "wrong_aud_with_azp":  # the azp names Warden, the audience does not
            claims.update(aud="another-client", azp=CLIENT_ID)
        elif self.tamper == "expired":
            claims.update(iat=at - 7200, exp=at - 3600)
        elif self.tamper == "wrong_nonce":
            claims["nonce"] = "a-nonce-from-another-sign-in"
        elif self.tamper == "wrong_iss":
            claims["iss"] = "http://127.0.0.1:1/not-the-issuer"
        return self.sign(claims)

    # --- the endpoints -----------------------------------------------------------------------

    async def metadata(self, request: Request) -> Response:
        return JSONResponse(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic"],
                "scopes_supported": ["openid", "email", "profile"],
            }
        )

    async def jwks(self, request: Request) -> Response:
        return JSONResponse({"keys": [self.key.as_dict(private=False)]})

    async def authorize(self, request: Request) -> Response:
        q = request.query_params
        if (
            q.get("client_id") != CLIENT_ID
            or q.get("response_type") != "code"
            or "openid" not in (q.get("scope") or "").split()
            or q.get("code_challenge_method") != "S256"
            or not q.get("code_challenge")
            or not q.get("redirect_uri")
        ):
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        code = secrets.token_urlsafe(24)
        self.codes[code] = {
            "redirect_uri": q["redirect_uri"],
            "challenge": q["code_challenge"],
            "nonce": q.get("nonce"),
            "identity": dict(self.identity),
            "used": False,
        }
        back = f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q.get('state', '')})}"
        if self.interactive:
            link = html.escape(back, quote=True)
            return HTMLResponse(
                f'<!doctype html><title>Test IdP</title><a id="continue" href="{link}">Continue</a>'
            )
        return RedirectResponse(back, status_code=302)

    async def token(self, request: Request) -> Response:
        self.token_requests += 1
        basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if request.headers.get("authorization") != f"Basic {basic}":
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        form = await request.form()
        grant = self.codes.get(str(form.get("code")))
        if form.get("grant_type") != "authorization_code" or grant is None or grant["used"]:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        grant["used"] = True  # single use, as the spec requires
        verifier = str(form.get("code_verifier") or "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if form.get("redirect_uri") != grant["redirect_uri"] or challenge != grant["challenge"]:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        return JSONResponse(
            {
                "access_token": secrets.token_urlsafe(24),
                "token_type": "Bearer",
                "expires_in": 300,
                "id_token": self.id_token(grant),
            },
            headers={"cache-control": "no-store"},
        )

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self.metadata),
                Route("/jwks", self.jwks),
                Route("/authorize", self.authorize),
                Route("/token", self.token, methods=["POST"]),
            ]
        )


@contextmanager
def running_provider(port: int, name: str = "127.0.0.1") -> Iterator[Provider]:
    """The provider served on 127.0.0.1:`port` until the block ends; `name` is the host its
    issuer URL names (``localhost`` makes it another site than Warden's 127.0.0.1 for a browser)."""
    provider = Provider(issuer=f"http://{name}:{port}")
    server = uvicorn.Server(uvicorn.Config(provider.app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the OIDC provider did not start"
        time.sleep(0.05)
    try:
        yield provider
    finally:
        server.should_exit = True
        thread.join(timeout=30)
