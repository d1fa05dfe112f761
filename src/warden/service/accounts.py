"""Local accounts and credentials for the server: passwords (argon2), API tokens, sessions.

The operator manages accounts on the host (`warden users ...`): being on the host with the state
directory is that credential, and those acts are audited as :data:`OPERATOR`. An account is only
a way to prove who you are: what a user may see and do still comes from the policy in force
(:func:`principal_for`), so a user the policy no longer names authenticates as nobody.

Only hashes are stored (argon2 for passwords, SHA-256 for token secrets and session ids); no
secret is ever audited. Every credential event is audited on the chain of the account's tenant.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import ipaddress
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NoReturn

from warden.errors import UsageError, WardenError
from warden.schemas.durations import parse_duration
from warden.schemas.policy import plausible_user
from warden.service.errors import BadCredentials, SignInThrottled
from warden.service.principal import AuthMethod, Principal, principal_for
from warden.store import accounts as rows
from warden.store import audit, retrying_conflicts
from warden.store._util import now

log = logging.getLogger("warden.accounts")

if TYPE_CHECKING:
    from warden.service._base import ServiceBase
    from warden.service.oidc import OidcSignIn

__all__ = [
    "ATTEMPT_RETENTION",
    "OPERATOR",
    "PRUNE_EVERY",
    "SESSION_TTL",
    "THROTTLE_FAILURES",
    "THROTTLE_WINDOW",
    "TOKEN_USE_EVERY",
    "USER_CEILING",
    "Accounts",
    "IssuedToken",
    "Session",
    "SignInLimits",
    "parse_expiry",
    "throttle_client",
]

OPERATOR = "operator@host"
"""The actor of account management on the host (no principal: the state directory is the key)."""
SESSION_TTL = timedelta(hours=12)
THROTTLE_FAILURES = 5
"""Failed sign-ins of one user from one client (:func:`throttle_client`) per window."""
THROTTLE_WINDOW = timedelta(minutes=15)
USER_CEILING = 50
"""Failed sign-ins of one user from all clients together per window, beyond which only clients
that signed in as that user before (within :data:`ATTEMPT_RETENTION`) may still try.

The trade-off: anyone with many addresses can keep a user from signing in from a NEW address
(50 wrong guesses every 15 minutes keep the ceiling reached), but not from one they signed in
from before, and not for other users; in exchange a guesser with unlimited addresses gets at
most 50 guesses per user per window (4,800 a day) instead of 5 per address."""
ATTEMPT_RETENTION = timedelta(days=30)
"""How long sign-in attempts are kept: the window's failures (a window is at most this long),
and the successes that make a client known (:data:`USER_CEILING`)."""
MAX_FAILURES = 1000
MAX_CEILING = 100_000
MIN_WINDOW = timedelta(minutes=1)
PRUNE_EVERY = timedelta(minutes=10)
"""How often (at most, per process) a sign-in also drops the attempts older than the retention."""
IPV6_PREFIX = 64
MIN_PASSWORD = 8
TOKEN_USE_EVERY = timedelta(minutes=1)
"""How often (at most) a token's use is recorded: its `last_used_at` is this precise."""
TOKEN_PREFIX = "wdn"
_RESERVE_ROUNDS = 40
"""How often a sign-in attempt's reservation runs again after losing a race to another one."""


@dataclass(frozen=True)
class IssuedToken:
    token_id: str
    secret: str
    """The whole bearer token; shown once, never stored."""
    user: str
    expires_at: datetime | None


@dataclass(frozen=True)
class Session:
    session_id: str
    """The cookie's value; shown once to the browser, stored as its SHA-256."""
    csrf: str
    principal: Principal
    expires_at: datetime


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def throttle_client(address: str) -> str:
    """The client sign-in failures are counted by: an IPv4 address itself, an IPv6 address's /64
    (one subscriber's or host's network: its addresses are free to rotate through, so counting
    each one would give 5 guesses per address), anything else (no address) as it is."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        network = ipaddress.IPv6Network((int(ip), IPV6_PREFIX), strict=False)
        return str(network)
    return str(ip)


@dataclass(frozen=True)
class SignInLimits:
    """The sign-in failure limits (`warden serve --sign-in-failures/--sign-in-ceiling/
    --sign-in-window`); every server sharing a ledger should use the same ones."""

    failures: int = THROTTLE_FAILURES
    """Failed sign-ins of one user from one client (:func:`throttle_client`) per window."""
    ceiling: int = USER_CEILING
    """Failed sign-ins of one user from all clients together per window, beyond which only
    clients that signed in as that user before may try."""
    window: timedelta = THROTTLE_WINDOW

    @classmethod
    def parse(
        cls, failures: str | int | None = None, ceiling: str | int | None = None, window: str | None = None
    ) -> SignInLimits:
        """The limits from settings as given (None: the default); a value that is not a whole
        number in range, a ceiling below the per-client limit, or a window that is not a duration
        from a minute to :data:`ATTEMPT_RETENTION` is refused (`bad_sign_in_limit`)."""
        default = cls()
        per_client = _count("--sign-in-failures", failures, default.failures, 1, MAX_FAILURES)
        per_user = _count("--sign-in-ceiling", ceiling, default.ceiling, 1, MAX_CEILING)
        if per_user < per_client:
            raise _bad_limit(
                f"--sign-in-ceiling {per_user} is below --sign-in-failures {per_client}: the ceiling "
                "counts the failures of every client together",
                f"set the ceiling to at least {per_client}",
            )
        span = default.window
        if window is not None:
            seconds = parse_duration(str(window), units="smhd", max_digits=6)
            span = timedelta(seconds=seconds or 0)
            if not MIN_WINDOW <= span <= ATTEMPT_RETENTION:
                raise _bad_limit(
                    f"--sign-in-window {window!r} is not a duration from 1m to {ATTEMPT_RETENTION.days}d",
                    "use e.g. 15m, 1h or 1d",
                )
        return cls(per_client, per_user, span)

    @property
    def minutes(self) -> int:
        return max(1, int(self.window.total_seconds() // 60))


def _bad_limit(message: str, fix: str) -> UsageError:
    return UsageError(message, fix=fix, code="bad_sign_in_limit")


def _count(name: str, value: str | int | None, default: int, low: int, high: int) -> int:
    if value is None:
        return default
    text = str(value).strip()
    if not text.isdigit() or not low <= int(text) <= high:
        raise _bad_limit(
            f"{name} {value!r} is not a whole number from {low} to {high}", f"e.g. {name} {default}"
        )
    return int(text)


def parse_expiry(text: str | None) -> timedelta | None:
    """`30d`, `12h`, `90m` (or `never`/None: no expiry) as a duration; a usage error otherwise."""
    if text is None or text.strip().lower() == "never":
        return None
    seconds = parse_duration(text, units="mhdw", max_digits=5)
    if not seconds:
        raise UsageError(f"--expires {text!r}: not a duration", fix="use e.g. 90m, 12h, 30d, 8w or never")
    return timedelta(seconds=seconds)


class Accounts:
    """Account management (the operator's) and authentication (the server's) over one service."""

    def __init__(self, service: ServiceBase) -> None:
        from argon2 import PasswordHasher

        self.service = service
        self.store = service.store
        self.hasher = PasswordHasher()
        self._dummy = self.hasher.hash(secrets.token_urlsafe(16))
        self._oidc: OidcSignIn | None = None
        self._pruned_at = float("-inf")
        self._prune_lock = threading.Lock()
        self.limits = SignInLimits()
        """The sign-in failure limits (the server sets them from its settings)."""

    @property
    def oidc(self) -> OidcSignIn:
        """Sign-in through the policy's OpenID Connect provider, if it configures one."""
        if self._oidc is None:
            from warden.service.oidc import OidcSignIn

            self._oidc = OidcSignIn(self)
        return self._oidc

    # --- the operator's acts -----------------------------------------------------------------

    def _policy_tenant_of(self, user: str, tenant: str) -> None:
        policy = self.service.policies.in_force(may_initialise=True)
        policy.tenant(tenant)  # a coded error for an unknown tenant
        if not policy.roles_of(tenant, user):
            raise UsageError(
                f"'{user}' is not a user of tenant '{tenant}' in the policy in force",
                fix="add the user to the tenant in the policy and `warden policy apply` it first",
                code="unknown_user",
            )

    def _check_password(self, password: str) -> None:
        if len(password) < MIN_PASSWORD:
            raise UsageError(
                f"the password is shorter than {MIN_PASSWORD} characters", fix="choose a longer one"
            )

    def add_user(self, user: str, tenant: str, password: str) -> None:
        """Create `user`'s account (a user of `tenant` in the policy in force) with a password."""
        self._policy_tenant_of(user, tenant)
        self._check_password(password)
        digest = self.hasher.hash(password)

        def add() -> None:  # another host adding the same account at once: refused on the re-run
            with self.store.connect() as con:
                if rows.get_account(con, user) is not None:
                    raise UsageError(
                        f"'{user}' already has an account",
                        fix=f"change the password with `warden users passwd {user}`",
                    )
                rows.upsert_account(con, user, tenant, digest)
                self._audit(con, tenant, OPERATOR, "account_added", {"user": user})
                self._audit(con, tenant, OPERATOR, "password_set", {"user": user})

        retrying_conflicts(add)

    def set_password(self, user: str, password: str) -> dict[str, int]:
        """Set a new password; the user's sessions end and their API tokens are revoked, in the
        same transaction: a reset is what the operator does when the password leaked, and a
        token minted with it (`POST /api/tokens`) would otherwise outlive it by 30 days. The
        operator issues new tokens (`warden users token`). How many of each ended."""
        self._check_password(password)
        digest = self.hasher.hash(password)

        def change() -> dict[str, int]:  # another host changing it at once: this one comes after it
            with self.store.connect() as con:
                account = self._account(con, user)
                self._lock_chain(con, account["tenant"])
                rows.upsert_account(con, user, account["tenant"], digest)
                ended = {
                    "sessions_ended": rows.end_sessions_of(con, user),
                    "tokens_revoked": rows.revoke_tokens_of(con, user),
                }
                self._audit(con, account["tenant"], OPERATOR, "password_set", {"user": user, **ended})
                return ended

        return retrying_conflicts(change)

    def set_disabled(self, user: str, disabled: bool) -> dict[str, Any]:
        """Disable (or enable again) `user`: a disabled user signs in neither with a password nor
        through OIDC, and disabling ends their sessions and revokes their API tokens in the same
        transaction. An OIDC user the policy names but who has no account gets one without a
        password, disabled (the only way to stop someone the provider still vouches for short
        of a policy change). What changed, with how many sessions and tokens ended."""
        tenant = self._tenant_of(user) if disabled and plausible_user(user) else None

        def change() -> dict[str, Any]:  # another host at once: this one comes after it
            with self.store.connect() as con:
                account = (
                    self._account_to_disable(con, user, tenant) if disabled else self._account(con, user)
                )
                done: dict[str, Any] = {"user": user, "changed": bool(account["disabled"]) != disabled}
                self._lock_chain(con, account["tenant"])
                rows.set_disabled(con, user, disabled)
                if disabled:
                    done["sessions_ended"] = rows.end_sessions_of(con, user)
                    done["tokens_revoked"] = rows.revoke_tokens_of(con, user)
                event = "account_disabled" if disabled else "account_enabled"
                payload = {k: v for k, v in done.items() if k != "changed"}
                self._audit(con, account["tenant"], OPERATOR, event, payload)
                return done

        return retrying_conflicts(change)

    def _account_to_disable(self, con: Any, user: str, tenant: str | None) -> dict[str, Any]:
        """`user`'s account, or a new one without a password on `tenant` (their first in the
        policy: an OIDC user); a user with neither is refused (`unknown_account`)."""
        account = rows.get_account(con, user) if plausible_user(user) else None
        if account is not None:
            return account
        if tenant is None:
            return self._account(con, user)  # the coded refusal: no account, not in the policy
        rows.upsert_account(con, user, tenant, None)
        self._audit(con, tenant, OPERATOR, "account_added", {"user": user, "password": False})
        return self._account(con, user)

    def issue_token(
        self,
        user: str,
        expires: timedelta | None,
        *,
        actor: str = OPERATOR,
        verified: dict[str, Any] | None = None,
    ) -> IssuedToken:
        """A new API token for `user`; its secret is returned here once and stored only hashed.
        `verified`: the account as a password was checked against (:meth:`exchange_password`):
        refused (`bad_credentials`) when the password was reset or the account disabled since.
        Either way the account is held (``hold_account``) in the token's transaction, so a
        reset at once revokes the token or comes after it: never misses it."""
        token_id = secrets.token_hex(6)
        secret = f"{TOKEN_PREFIX}_{token_id}_{secrets.token_urlsafe(32)}"
        expires_at = now() + expires if expires is not None else None

        def issue() -> None:  # a reset or another mint at once: run again after it
            with self.store.connect() as con:
                account = self._account(con, user)
                self._lock_chain(con, account["tenant"])
                if not rows.hold_account(con, user, verified) and verified is not None:
                    raise BadCredentials()
                rows.add_token(con, token_id, user, _sha256(secret), expires_at)
                self._audit(
                    con,
                    account["tenant"],
                    actor,
                    "token_issued",
                    {
                        "user": user,
                        "token_id": token_id,
                        "expires_at": expires_at.isoformat() if expires_at else None,
                    },
                )

        retrying_conflicts(issue)
        return IssuedToken(token_id, secret, user, expires_at)

    def exchange_password(
        self, user: str, password: str, *, client: str, expires: timedelta | None
    ) -> IssuedToken:
        """An API token for `user` if `password` is theirs (throttled as a sign-in): issued only
        while the password checked is still theirs, so a reset racing the exchange ends it."""
        principal, account = self._verify_password(user, password, client=client)
        return self.issue_token(principal.user, expires, actor=principal.user, verified=account)

    def revoke_token(self, token_id: str, *, actor: str = OPERATOR) -> dict[str, Any]:
        return retrying_conflicts(lambda: self._revoke_token(token_id, actor))

    def _revoke_token(self, token_id: str, actor: str) -> dict[str, Any]:
        """One transaction (re-run when another host revokes the same token at once)."""
        with self.store.connect() as con:
            row = rows.revoke_token(con, token_id.strip())
            if row is None:
                raise UsageError(
                    f"no token '{token_id}'", fix="list tokens with `warden users list`", code="unknown_token"
                )
            account = rows.get_account(con, row["user"])
            self._audit(
                con,
                (account or {}).get("tenant") or "-",
                actor,
                "token_revoked",
                {"user": row["user"], "token_id": row["token_id"]},
            )
        return row

    def list(self) -> list[dict[str, Any]]:
        with self.store.connect() as con:
            found = rows.list_accounts(con)
            for account in found:
                account["tokens"] = rows.list_tokens(con, account["user"])
        return found

    # --- authentication ----------------------------------------------------------------------

    def _principal(self, user: str, auth: AuthMethod) -> Principal:
        found = principal_for(self.service.policies.in_force(may_initialise=False), user, auth)
        if found is None:
            raise BadCredentials()
        return found

    def authenticate_password(self, user: str, password: str, *, client: str) -> Principal:
        """The principal `user` is, if `password` is theirs (see :meth:`_verify_password`)."""
        return self._verify_password(user, password, client=client)[0]

    def _verify_password(self, user: str, password: str, *, client: str) -> tuple[Principal, dict[str, Any]]:
        """The principal `user` is, if `password` is theirs, with the account row as checked (what
        a session or token started on it must still find: ``hold_account``); throttled per user
        and client, and per user across clients for clients that never signed in as them
        (:attr:`limits`).

        The limits hold however many attempts come at once, on any number of hosts: each one is
        recorded as a failure (:func:`~warden.store.accounts.reserve_attempt`, serialised per
        user, committed) before its password is checked, and marked ok only after, so a check
        in progress already counts and one whose process dies stays a failure. `client` is the
        address the request came from; failures count by :func:`throttle_client`."""
        from argon2.exceptions import InvalidHashError, VerificationError

        user = user.strip()
        if not plausible_user(user):
            self._refuse_implausible(password)
        counted_as = throttle_client(client)
        attempt_id = secrets.token_hex(12)
        limits = self.limits

        def reserve() -> tuple[dict[str, Any] | None, str | None]:
            prune = self._prune_due()
            try:
                with self.store.connect() as con:
                    account = rows.get_account(con, user)
                    at = now()
                    since = at - limits.window
                    if account is not None and account["updated_at"] > since:
                        since = account["updated_at"]  # the operator set a new password: a fresh count
                    refused = rows.reserve_attempt(
                        con,
                        user,
                        counted_as,
                        attempt_id,
                        since=since,
                        limit=limits.failures,
                        user_limit=limits.ceiling,
                        known_since=at - ATTEMPT_RETENTION,
                        # a success recorded before clients were counted by /64 named the address
                        known_as=(client,) if client != counted_as else (),
                    )
                    if prune:  # after the reservation touched this user's guard row
                        rows.prune_attempts(con, at - ATTEMPT_RETENTION)
            except BaseException:
                if prune:  # not pruned after all: the next sign-in may
                    self._pruned_at = float("-inf")
                raise
            return account, refused

        # attempts at once on DuckDB lose the race for the guard row and run again: enough
        # rounds for each of a burst of them to get its turn
        account, refused = retrying_conflicts(reserve, attempts=_RESERVE_ROUNDS)
        if refused is not None:
            if account is not None:
                self._audited(
                    account["tenant"],
                    user,
                    "sign_in_throttled",
                    {"user": user, "client": client, "counted_as": counted_as, "limit": refused},
                )
            minutes = limits.minutes
            if refused == "user":
                raise SignInThrottled(
                    f"too many failed sign-ins for '{user}'; only networks that signed in as "
                    "them before may try now",
                    fix=f"sign in from a network you signed in from before, wait {minutes} minutes, "
                    "or ask the operator to set a new password (`warden users passwd`)",
                )
            raise SignInThrottled(
                f"too many failed sign-ins for '{user}' from this client",
                fix=f"wait {minutes} minutes, or ask the operator "
                "to set a new password (`warden users passwd`)",
            )
        ok = False
        try:
            ok = self.hasher.verify((account or {}).get("password_hash") or self._dummy, password)
        except (VerificationError, InvalidHashError, UnicodeError):  # a lone surrogate: not utf-8
            ok = False
        ok = ok and account is not None and not account["disabled"]
        principal = None
        if ok:
            try:
                principal = self._principal(user, "password")
            except BadCredentials:
                ok = False

        def settle() -> None:  # audit appends of other hosts at once: run again
            with self.store.connect() as con:
                if ok:
                    rows.settle_attempt(con, attempt_id)
                if account is not None:
                    event = "sign_in_succeeded" if ok else "sign_in_failed"
                    payload = {"user": user, "client": client, "auth": "password"}
                    self._audit(con, account["tenant"], user, event, payload)

        retrying_conflicts(settle)
        if principal is None or account is None:
            raise BadCredentials()
        return principal, account

    def _refuse_implausible(self, password: str) -> NoReturn:
        """A name no policy can hold (a NUL, a control character: Postgres refuses a NUL in
        SQL) is an unknown user: refused before any SQL runs, after the dummy hash's check, so
        it costs what an unknown user's attempt costs."""
        from argon2.exceptions import InvalidHashError, VerificationError

        with contextlib.suppress(VerificationError, InvalidHashError, UnicodeError):
            self.hasher.verify(self._dummy, password)
        raise BadCredentials()

    def authenticate_token(self, secret: str) -> Principal:
        """The principal a bearer token stands for; expired, revoked and unknown tokens alike fail."""
        if not secret.startswith(f"{TOKEN_PREFIX}_") or len(secret) > 200:
            raise BadCredentials()
        with self.store.connect(read_only=True) as con:
            row = rows.get_token(con, _sha256(secret))
            account = rows.get_account(con, row["user"]) if row else None
        if (
            row is None
            or account is None
            or account["disabled"]
            or row["revoked_at"] is not None
            or (row["expires_at"] is not None and row["expires_at"] <= now())
            or not hmac.compare_digest(row["secret_sha256"], _sha256(secret))
        ):
            raise BadCredentials()
        principal = self._principal(row["user"], "token")
        self._note_use(row)
        return principal

    def _note_use(self, token: dict[str, Any]) -> None:
        """Record a token's use (`warden users list`: after a leak, which tokens were used), at
        most once per :data:`TOKEN_USE_EVERY`: a busy API client must not write per request, so
        a use within that of the last one recorded writes nothing. Bookkeeping only: a store too
        busy to record it does not refuse the request (logged)."""
        at = now()
        last = token["last_used_at"]
        if last is not None and at - last < TOKEN_USE_EVERY:
            return

        def record() -> None:  # a use recorded by another request at once: run again, a no-op
            with self.store.connect() as con:
                rows.token_used(con, token["token_id"], unless_since=at - TOKEN_USE_EVERY)

        try:
            retrying_conflicts(record)
        except WardenError as exc:
            log.warning("the use of token %s was not recorded: %s", token["token_id"], exc.code)

    def sign_in(self, user: str, password: str, *, client: str, previous: str | None = None) -> Session:
        """Check the password and start a new session (a new id every time: the id a browser held
        before signing in, if any, is ended, so a planted session id is worthless)."""
        principal, account = self._verify_password(user, password, client=client)
        session_id = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        expires_at = now() + SESSION_TTL

        def start() -> None:  # the previous session ended, or the account held, at once: run again
            with self.store.connect() as con:
                # the password checked is still the account's: a reset since (or at once, see
                # hold_account) ends a session it would otherwise never see
                if not rows.hold_account(con, principal.user, account):
                    raise BadCredentials()
                if previous:
                    rows.end_session(con, _sha256(previous))
                rows.start_session(con, _sha256(session_id), principal.user, csrf, "password", expires_at)

        retrying_conflicts(start)
        return Session(session_id, csrf, principal, expires_at)

    def session(self, session_id: str) -> Session:
        """The live session `session_id` names, with the principal it stands for."""
        if not session_id or len(session_id) > 200:
            raise BadCredentials()
        with self.store.connect(read_only=True) as con:
            row = rows.get_session(con, _sha256(session_id))
            account = rows.get_account(con, row["user"]) if row else None
        # an OIDC user needs no local account (the provider is the credential), but a disabled
        # account still stops them
        needs_account = row is None or row["auth"] != "oidc"
        if (
            row is None
            or (account is None and needs_account)
            or (account is not None and account["disabled"])
            or row["ended_at"] is not None
        ):
            raise BadCredentials()
        if row["expires_at"] <= now():
            raise BadCredentials()
        auth: AuthMethod = "oidc" if row["auth"] == "oidc" else "password"
        if auth == "oidc":
            self._check_issuer(row)
        return Session(session_id, row["csrf"], self._principal(row["user"], auth), row["expires_at"])

    def _check_issuer(self, row: dict[str, Any]) -> None:
        """An OIDC session lives only while the policy in force trusts the provider that vouched
        for it: no `oidc:` any more, or another issuer (the old provider replaced, say after it
        was compromised), ends it. A session from before issuers were recorded has none: it ends
        too (its user signs in again)."""
        provider = self.service.policies.in_force(may_initialise=False).policy.oidc
        if provider is None or row.get("issuer") != provider.issuer:
            raise BadCredentials()

    def check_csrf(self, session: Session, presented: str | None) -> bool:
        return bool(presented) and hmac.compare_digest(session.csrf, presented or "")

    def end_session(self, session_id: str) -> None:
        """Sign out: the session id stops working at once (audited once: a sign-out racing
        another one of the same session, from another host, finds it ended on its re-run)."""
        retrying_conflicts(lambda: self._end_session(session_id))

    def _end_session(self, session_id: str) -> None:
        with self.store.connect() as con:
            row = rows.get_session(con, _sha256(session_id))
            if row is None or not rows.end_session(con, _sha256(session_id)):
                return
            account = rows.get_account(con, row["user"])
            tenant = account["tenant"] if account is not None else self._tenant_of(row["user"])
            if tenant is not None:
                self._audit(
                    con, tenant, row["user"], "session_ended", {"user": row["user"], "auth": row["auth"]}
                )

    # --- helpers -----------------------------------------------------------------------------

    def _prune_due(self) -> bool:
        """Whether this sign-in also drops old attempts: at most once per :data:`PRUNE_EVERY`
        in this process, so a sign-in otherwise pays only this check."""
        with self._prune_lock:
            at = time.monotonic()
            if at - self._pruned_at < PRUNE_EVERY.total_seconds():
                return False
            self._pruned_at = at
            return True

    def _tenant_of(self, user: str) -> str | None:
        """The chain a user without an account (an OIDC user) is audited on: their first tenant."""
        found = principal_for(self.service.policies.in_force(may_initialise=False), user, "oidc")
        return found.tenants[0] if found is not None and found.tenants else None

    def _account(self, con: Any, user: str) -> dict[str, Any]:
        account = rows.get_account(con, user) if plausible_user(user) else None
        if account is None:
            raise UsageError(
                f"'{user}' has no account",
                fix=f"add one with `warden users add {user} --tenant TENANT`",
                code="unknown_account",
            )
        return account

    @staticmethod
    def _lock_chain(con: Any, tenant: str) -> None:
        """Take `tenant`'s audit chain lock now (Postgres), before the account's row: every
        transaction that writes both takes them in this order (an append takes the chain's,
        ``hold_account`` the row's), so a reset and a token's issue never wait for each other
        in a cycle."""
        audit.chain_readers(con, tenant)

    def _audited(self, tenant: str, actor: str, event: str, payload: dict[str, Any]) -> None:
        """One event in a transaction of its own (run again when another host appends at once)."""

        def append() -> None:
            with self.store.connect() as con:
                self._audit(con, tenant, actor, event, payload)

        retrying_conflicts(append)

    @staticmethod
    def _audit(con: Any, tenant: str, actor: str, event: str, payload: dict[str, Any]) -> None:
        audit.audit(
            con, run_id=None, root_run_id=None, tenant=tenant, actor=actor, event=event, payload=payload
        )
