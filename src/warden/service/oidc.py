"""Sign-in through the policy's OpenID Connect provider (authlib): the authorization code flow
with PKCE, state and nonce.

The provider only proves who someone is; the ID token's signature is checked against the
provider's JWKS and its issuer, audience, expiry and nonce by authlib (``parse_id_token``), and
the identity must then name a user of the policy in force, who becomes a principal with
``auth="oidc"``. Each sign-in's state, nonce and code verifier are kept server-side (the state
only as its SHA-256) and used once, so a replayed callback or a state from another browser is
refused (only logged: anyone can send such a callback). Every outcome past the state check is
audited; no token or secret ever is.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import string
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from warden.errors import WardenError
from warden.schemas.policy import OidcProvider, plausible_user
from warden.service.principal import Principal, principal_for
from warden.store import accounts as rows
from warden.store import audit, retrying_conflicts
from warden.store._util import now

if TYPE_CHECKING:
    from warden.service.accounts import Accounts, Session

__all__ = ["OIDC_REQUEST_TTL", "OidcError", "OidcSignIn", "OidcStart", "email_key"]

log = logging.getLogger("warden.service.oidc")

OIDC_REQUEST_TTL = timedelta(minutes=10)
"""How long a sign-in started at the provider may take to come back."""
METADATA_TTL_S = 3600.0
"""Discovery metadata and keys are fetched again after this (keys also on an unknown key id)."""
LEEWAY_S = 60
"""Clock skew allowed on the ID token's exp/iat."""


class OidcError(WardenError):
    """An OIDC sign-in that did not authenticate anyone; the code says which check refused it."""

    code = "oidc_refused"


@dataclass(frozen=True)
class OidcStart:
    url: str
    """Where to send the browser (the provider's authorization endpoint, with the request)."""
    state: str
    """Also kept by the browser (a cookie) so the callback is bound to the browser that began."""


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _client_class() -> Any:
    """authlib's synchronous OAuth 2 / OpenID client over httpx, without a web framework: the
    state lives in Warden's store rather than a framework session."""
    from authlib.integrations.base_client.sync_app import BaseApp, OAuth2Mixin
    from authlib.integrations.base_client.sync_openid import OpenIDMixin
    from authlib.integrations.httpx_client import OAuth2Client

    class WardenOidcClient(OAuth2Mixin, OpenIDMixin, BaseApp):  # type: ignore[misc]
        client_cls = OAuth2Client

    return WardenOidcClient


class OidcSignIn:
    """Begin and complete OIDC sign-ins for one service (one client per provider config)."""

    def __init__(self, accounts: Accounts) -> None:
        self.accounts = accounts
        self.store = accounts.store
        self._lock = threading.Lock()
        self._clients: dict[str, tuple[float, Any]] = {}

    def provider(self) -> OidcProvider | None:
        """The provider the policy in force configures, if any."""
        return self.accounts.service.policies.in_force(may_initialise=False).policy.oidc

    def _configured(self) -> OidcProvider:
        provider = self.provider()
        if provider is None:
            raise OidcError(
                "OIDC sign-in is not configured",
                fix="sign in with a password, or configure `oidc:` in the policy and apply it",
                code="oidc_not_configured",
            )
        return provider

    def _secret(self, provider: OidcProvider) -> str | None:
        if provider.client_secret_env is None:
            return None
        secret = os.environ.get(provider.client_secret_env)
        if not secret:
            raise OidcError(
                f"the OIDC client secret is missing: ${provider.client_secret_env} is not set "
                "in the server's environment",
                fix=f"export {provider.client_secret_env} before `warden serve`",
                code="oidc_not_configured",
            )
        return secret

    def _client(self, provider: OidcProvider) -> Any:
        secret = self._secret(provider)
        key = _sha256(provider.model_dump_json() + "\0" + (secret or ""))
        with self._lock:
            cached = self._clients.get(key)
            if cached is not None and time.monotonic() - cached[0] < METADATA_TTL_S:
                return cached[1]
            from authlib.integrations.base_client import FrameworkIntegration

            client = _client_class()(
                FrameworkIntegration("warden"),
                name="warden",
                client_id=provider.client_id,
                client_secret=secret,
                server_metadata_url=provider.metadata_url,
                client_kwargs={
                    "scope": " ".join(provider.scopes),
                    "code_challenge_method": "S256",
                    "token_endpoint_auth_method": "client_secret_basic" if secret else "none",
                    "timeout": 10.0,
                },
            )
            self._clients = {key: (time.monotonic(), client)}
            return client

    def _metadata(self, provider: OidcProvider, client: Any) -> dict[str, Any]:
        try:
            metadata: dict[str, Any] = client.load_server_metadata()
        except Exception as exc:
            raise OidcError(
                f"the OIDC provider's metadata could not be read from {provider.metadata_url}: "
                f"{type(exc).__name__}",
                fix="check the provider is up and `oidc.issuer` / `oidc.discovery_url` in the policy",
                code="oidc_provider_unreachable",
            ) from None
        if metadata.get("issuer") != provider.issuer:
            raise OidcError(
                f"the provider's metadata names issuer {metadata.get('issuer')!r}, not {provider.issuer!r}",
                fix="set `oidc.issuer` in the policy to the provider's exact issuer URL",
                code="oidc_provider_unreachable",
            )
        return metadata

    def begin(self, redirect_uri: str) -> OidcStart:
        """Start a sign-in: a fresh state, nonce and PKCE verifier, kept for one use."""
        provider = self._configured()
        client = self._client(provider)
        self._metadata(provider, client)
        started = client.create_authorization_url(
            redirect_uri=provider.redirect_url or redirect_uri,
            state=secrets.token_urlsafe(32),
            nonce=secrets.token_urlsafe(32),
            code_verifier=secrets.token_urlsafe(48),
        )

        def keep() -> None:  # another host's sign-in dropping the same expired ones: run again
            with self.store.connect() as con:
                rows.add_oidc_request(
                    con,
                    _sha256(started["state"]),
                    nonce=started["nonce"],
                    code_verifier=started["code_verifier"],
                    redirect_uri=provider.redirect_url or redirect_uri,
                    expires_at=now() + OIDC_REQUEST_TTL,
                )

        retrying_conflicts(keep)
        return OidcStart(str(started["url"]), str(started["state"]))

    def complete(
        self,
        *,
        state: str,
        code: str,
        browser_state: str | None,
        client: str,
        previous: str | None = None,
        error: str | None = None,
    ) -> Session:
        """Finish a sign-in the provider sent back: the state must be this browser's and unused,
        the code is exchanged (with the PKCE verifier), the ID token verified, and its identity
        must be a user of the policy in force. A new session (the previous one ends)."""
        provider = self._configured()
        if (
            not state
            or len(state) > 200
            or not browser_state
            or not secrets.compare_digest(state.encode(), browser_state.encode())
        ):
            log.warning("OIDC callback from %s refused: the state is not this browser's", client)
            raise OidcError(
                "the sign-in's state does not match the one this browser started",
                fix="start again from the sign-in page (and sign in from one tab at a time)",
                code="oidc_state",
            )

        def take() -> dict[str, Any] | None:  # the same callback at once on another host: the
            with self.store.connect() as con:  # re-run finds the state used, and is refused
                return rows.take_oidc_request(con, _sha256(state), now())

        pending = retrying_conflicts(take)
        if pending is None:
            log.warning("OIDC callback from %s refused: unknown, used or expired state", client)
            raise OidcError(
                "this sign-in was already used or has expired",
                fix="start again from the sign-in page",
                code="oidc_state",
            )
        if error or not code:
            self._refused("-", None, client, f"the provider answered {error or 'no code'}")
            raise OidcError(
                f"the provider did not sign you in ({(error or 'no code')[:100]})",
                fix="try again, or ask your identity provider's administrator",
            )
        oauth = self._client(provider)
        self._metadata(provider, oauth)
        claims = self._verified_claims(provider, oauth, pending, code, client)
        return self._session_for(provider, claims, client, previous)

    def _verified_claims(
        self, provider: OidcProvider, oauth: Any, pending: dict[str, Any], code: str, client: str
    ) -> dict[str, Any]:
        from authlib.common.errors import AuthlibBaseError
        from joserfc.errors import JoseError

        try:
            token = oauth.fetch_access_token(
                redirect_uri=pending["redirect_uri"], code=code, code_verifier=pending["code_verifier"]
            )
        except AuthlibBaseError as exc:  # the provider refused the code (replayed, expired, ...)
            self._refused("-", None, client, f"code exchange refused: {getattr(exc, 'error', 'error')}")
            raise OidcError(
                f"the provider refused the sign-in code ({getattr(exc, 'error', 'error')})",
                fix="start again from the sign-in page",
            ) from None
        except Exception as exc:
            self._refused("-", None, client, f"code exchange failed: {type(exc).__name__}")
            raise OidcError(
                f"the provider could not be asked for the token: {type(exc).__name__}",
                fix="check the provider is up, then start again",
                code="oidc_provider_unreachable",
            ) from None
        if "id_token" not in token:
            self._refused("-", None, client, "no id_token in the token response")
            raise OidcError("the provider sent no ID token", fix="include the `openid` scope")
        try:
            userinfo = oauth.parse_id_token(
                token,
                nonce=pending["nonce"],
                # aud is named here: authlib's IDToken alone accepts another audience when the
                # token's azp names this client
                claims_options={
                    "iss": {"essential": True, "values": [provider.issuer]},
                    "aud": {"essential": True, "values": [provider.client_id]},
                },
                leeway=LEEWAY_S,
            )
        except (AuthlibBaseError, JoseError, ValueError) as exc:
            why = _why(exc)
            self._refused("-", None, client, f"ID token refused: {why}")
            raise OidcError(
                f"the ID token was refused: {why}",
                fix="start again from the sign-in page; if it persists, check the provider's "
                "clock and that `oidc.client_id` and `oidc.issuer` in the policy are right",
            ) from None
        return dict(userinfo)

    def _identity(self, provider: OidcProvider, claims: dict[str, Any]) -> str | None:
        """The policy user the verified claims name, or None.

        An e-mail names someone only when the provider says it verified it: `email_verified`
        must be the JSON boolean true (a missing claim, or the string "false" some providers
        send, proves nothing: anyone may register an address they do not own there)."""
        value = claims.get(provider.user_claim)
        if not isinstance(value, str) or not plausible_user(value.strip()):
            return None
        if provider.user_claim == "email" and claims.get("email_verified") is not True:
            return None
        policy = self.accounts.service.policies.in_force(may_initialise=False).policy
        if provider.match == "user":
            named = {u for t in policy.tenants.values() for u in t.users} | set(policy.admins)
            return value if value in named else None
        wanted = email_key(value)
        found = {
            user
            for tenant in policy.tenants.values()
            for user, spec in tenant.users.items()
            if spec.email and email_key(spec.email) == wanted
        }
        return found.pop() if len(found) == 1 else None  # two users with one address: nobody

    def _session_for(
        self, provider: OidcProvider, claims: dict[str, Any], client: str, previous: str | None
    ) -> Session:
        from warden.service.accounts import SESSION_TTL, Session

        user = self._identity(provider, claims)
        principal: Principal | None = None
        if user is not None:
            policy = self.accounts.service.policies.in_force(may_initialise=False)
            principal = principal_for(policy, user, "oidc")
        with self.store.connect(read_only=True) as con:
            account = rows.get_account(con, user) if user else None
        if principal is None or (account is not None and account["disabled"]):
            self._refused(
                _tenant_of(principal, account),
                user,
                client,
                f"identity {provider.user_claim}={str(claims.get(provider.user_claim))[:200]!r} "
                "is not a user of the policy in force",
            )
            raise OidcError(
                f"the identity the provider vouched for ({provider.user_claim} "
                f"{str(claims.get(provider.user_claim))[:200]!r}) is not a user of this Warden",
                fix="ask a policy admin to add you (with that "
                + ("e-mail" if provider.match == "email" else "user id")
                + ") to a tenant in the policy",
                code="oidc_unknown_user",
            )
        session_id = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        expires_at = now() + SESSION_TTL
        signed_in = principal

        def start() -> None:  # the previous session ended by another host at once: run again
            with self.store.connect() as con:
                if previous:
                    rows.end_session(con, _sha256(previous))
                rows.start_session(
                    con, _sha256(session_id), signed_in.user, csrf, "oidc", expires_at, issuer=provider.issuer
                )
                _audit(
                    con,
                    _tenant_of(signed_in, account),
                    signed_in.user,
                    "sign_in_succeeded",
                    {"user": signed_in.user, "client": client, "auth": "oidc", "issuer": provider.issuer},
                )

        retrying_conflicts(start)
        return Session(session_id, csrf, principal, expires_at)

    def _refused(self, tenant: str, user: str | None, client: str, reason: str) -> None:
        """Audit a refused OIDC sign-in (on the user's tenant chain when the identity is known)."""
        with self.store.connect() as con:
            _audit(
                con,
                tenant,
                user or "-",
                "sign_in_failed",
                {"user": user, "client": client, "auth": "oidc", "reason": reason},
            )


def _audit(con: Any, tenant: str, actor: str, event: str, payload: dict[str, Any]) -> None:
    audit.audit(con, run_id=None, root_run_id=None, tenant=tenant, actor=actor, event=event, payload=payload)


def _tenant_of(principal: Principal | None, account: dict[str, Any] | None) -> str:
    if account is not None and account.get("tenant"):
        return str(account["tenant"])
    if principal is not None and principal.tenants:
        return principal.tenants[0]
    return "-"


def _why(exc: Exception) -> str:
    """A short, secret-free reason an ID token was refused (bad signature, wrong audience, ...)."""
    name = type(exc).__name__
    detail = getattr(exc, "description", None) or getattr(exc, "error", None) or str(exc)
    return f"{name}: {str(detail)[:200]}" if detail else name


_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def email_key(address: str) -> str:
    """An e-mail address as matched against the policy's: ASCII letters fold case, nothing else
    does (`str.lower` would fold the Kelvin sign U+212A into "k", so an address registered at a
    provider with it would name the user whose address has a "k")."""
    return address.strip().translate(_ASCII_LOWER)
