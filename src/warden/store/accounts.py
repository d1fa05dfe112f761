"""Local accounts and their credentials: password hashes, API tokens, sessions, sign-in attempts.

Only hashes are stored: an argon2 hash of each password, the SHA-256 of each API token's
secret and of each session id. What a hash is checked against, and who may do what, is the
service's business (service/accounts.py); these functions only read and write rows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from warden.store._util import now, readers_under_lock, rows

__all__ = [
    "add_oidc_request",
    "add_token",
    "count_failures",
    "count_user_failures",
    "end_session",
    "end_sessions_of",
    "get_account",
    "get_session",
    "get_token",
    "hold_account",
    "list_accounts",
    "list_tokens",
    "prune_attempts",
    "reserve_attempt",
    "revoke_token",
    "revoke_tokens_of",
    "set_disabled",
    "settle_attempt",
    "signed_in_from",
    "start_session",
    "take_oidc_request",
    "token_used",
    "upsert_account",
]


def get_account(con: Any, user: str) -> dict[str, Any] | None:
    found = rows(con.execute('SELECT * FROM accounts WHERE "user" = ?', [user]))
    return found[0] if found else None


def upsert_account(con: Any, user: str, tenant: str | None, password_hash: str | None) -> bool:
    """Create the account or set its password hash; True when it was created."""
    at = now()
    existed = get_account(con, user) is not None
    if existed:
        con.execute(
            'UPDATE accounts SET password_hash = ?, updated_at = ? WHERE "user" = ?',
            [password_hash, at, user],
        )
    else:  # ON CONFLICT: an account another process added after this snapshot is a lost race
        # (a serialization failure, :func:`~warden.store.is_write_conflict`), not a bare
        # unique violation
        con.execute(
            """INSERT INTO accounts ("user", tenant, password_hash, created_at, updated_at)
               VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING""",
            [user, tenant, password_hash, at, at],
        )
    return not existed


def hold_account(con: Any, user: str, as_checked: dict[str, Any] | None = None) -> bool:
    """Whether `user`'s account is enabled (and, `as_checked`: its password unchanged since that
    row was read and checked), holding it until the transaction ends. It is held by writing it
    unchanged, as a compare-and-set: a password reset or a disabling, which writes it too, then
    either commits first (and this finds it changed) or comes after, as a write conflict that
    runs it again seeing this transaction's session or token (a Postgres row lock alone would
    not: a reset whose snapshot predates this commit would miss them)."""
    sql = 'UPDATE accounts SET updated_at = updated_at WHERE "user" = ? AND NOT disabled'
    params: list[Any] = [user]
    if as_checked is not None:
        sql += " AND password_hash = ? AND updated_at = ?"
        params += [as_checked["password_hash"], as_checked["updated_at"]]
    return bool(con.execute(sql, params).fetchone()[0])


def set_disabled(con: Any, user: str, disabled: bool) -> None:
    """Disable or enable `user`'s account (the row must exist). `updated_at` stays: it is when
    the password was last set (a fresh sign-in failure count starts there)."""
    con.execute('UPDATE accounts SET disabled = ? WHERE "user" = ?', [disabled, user])


def list_accounts(con: Any) -> list[dict[str, Any]]:
    return rows(
        con.execute(
            """SELECT a."user", a.tenant, a.created_at, a.updated_at, a.disabled,
                      a.password_hash IS NOT NULL AS has_password,
                      (SELECT count(*) FROM api_tokens t
                        WHERE t."user" = a."user" AND t.revoked_at IS NULL
                          AND (t.expires_at IS NULL OR t.expires_at > ?)) AS live_tokens
               FROM accounts a ORDER BY a."user\"""",
            [now()],
        )
    )


def add_token(con: Any, token_id: str, user: str, secret_sha256: str, expires_at: datetime | None) -> None:
    con.execute(
        """INSERT INTO api_tokens (token_id, "user", secret_sha256, created_at, expires_at)
           VALUES (?, ?, ?, ?, ?)""",
        [token_id, user, secret_sha256, now(), expires_at],
    )


def get_token(con: Any, secret_sha256: str) -> dict[str, Any] | None:
    found = rows(con.execute("SELECT * FROM api_tokens WHERE secret_sha256 = ?", [secret_sha256]))
    return found[0] if found else None


def list_tokens(con: Any, user: str | None = None) -> list[dict[str, Any]]:
    where, params = ('WHERE "user" = ?', [user]) if user else ("", [])
    return rows(
        con.execute(
            f"""SELECT token_id, "user", created_at, expires_at, revoked_at, last_used_at
                FROM api_tokens {where} ORDER BY created_at""",
            params,
        )
    )


def token_used(con: Any, token_id: str, *, unless_since: datetime | None = None) -> None:
    """Record that a token was used now, unless its last use recorded is at or after
    `unless_since` (another request, on any host, recorded it a moment ago)."""
    if unless_since is None:
        con.execute("UPDATE api_tokens SET last_used_at = ? WHERE token_id = ?", [now(), token_id])
        return
    con.execute(
        """UPDATE api_tokens SET last_used_at = ?
           WHERE token_id = ? AND (last_used_at IS NULL OR last_used_at < ?)""",
        [now(), token_id, unless_since],
    )


def revoke_token(con: Any, token_id: str) -> dict[str, Any] | None:
    """Revoke a token (idempotent); its row, or None when there is no such token."""
    con.execute(
        "UPDATE api_tokens SET revoked_at = ? WHERE token_id = ? AND revoked_at IS NULL", [now(), token_id]
    )
    found = rows(con.execute("SELECT * FROM api_tokens WHERE token_id = ?", [token_id]))
    return found[0] if found else None


def revoke_tokens_of(con: Any, user: str) -> int:
    """Revoke every live (unrevoked) token of `user` (a password reset, a disabled account);
    how many were revoked."""
    cur = con.execute(
        'UPDATE api_tokens SET revoked_at = ? WHERE "user" = ? AND revoked_at IS NULL', [now(), user]
    )
    return int(cur.fetchone()[0])


def start_session(
    con: Any,
    session_sha256: str,
    user: str,
    csrf: str,
    auth: str,
    expires_at: datetime,
    *,
    issuer: str | None = None,
) -> None:
    """A new session; `issuer`: the OIDC provider that vouched for an OIDC one."""
    con.execute(
        """INSERT INTO sessions (session_sha256, "user", csrf, auth, created_at, expires_at, issuer)
           VALUES (?, ?, ?, ?, ?, ?, ?)""",
        [session_sha256, user, csrf, auth, now(), expires_at, issuer],
    )


def get_session(con: Any, session_sha256: str) -> dict[str, Any] | None:
    found = rows(con.execute("SELECT * FROM sessions WHERE session_sha256 = ?", [session_sha256]))
    return found[0] if found else None


def end_session(con: Any, session_sha256: str) -> bool:
    """End a live session; True when there was one."""
    cur = con.execute(
        "UPDATE sessions SET ended_at = ? WHERE session_sha256 = ? AND ended_at IS NULL",
        [now(), session_sha256],
    )
    return bool(cur.fetchone()[0])


def end_sessions_of(con: Any, user: str) -> int:
    """End every live session of `user` (a password change); how many ended."""
    cur = con.execute('UPDATE sessions SET ended_at = ? WHERE "user" = ? AND ended_at IS NULL', [now(), user])
    return int(cur.fetchone()[0])


def reserve_attempt(
    con: Any,
    user: str,
    client: str,
    attempt_id: str,
    *,
    since: datetime,
    limit: int,
    user_limit: int,
    known_since: datetime,
    known_as: tuple[str, ...] = (),
) -> str | None:
    """Record a sign-in attempt of `user` from `client` as failed, before its password is
    checked: None when it was recorded, else the limit that refused it (nothing recorded).
    ``"client"``: `limit` failures from `client` since `since` (after its last success).
    ``"user"``: `user_limit` failures of `user` from all clients since `since`, and `client`
    has not signed in as `user` since `known_since` (as `client`, or as any of `known_as`: the
    forms the same client was recorded under before). :func:`settle_attempt` marks it ok once
    the password proves right; an attempt whose checker dies stays a failure.

    Reservations of one user are serialised (whatever the client: the per-user count must hold
    too), so attempts at once on any number of hosts and threads cannot all count the same
    failures: on Postgres they take an advisory lock until commit and count what was last
    committed; on DuckDB (one writer process at a time) they all write the user's guard row
    (client '') first, so two threads' at once conflict (the loser runs again,
    :func:`~warden.store.retrying_conflicts`)."""
    readers = readers_under_lock(con, f"sign_in:{user}")
    at = now()
    if len(readers) == 1:
        con.execute(
            """INSERT INTO sign_in_guards ("user", client, touched_at) VALUES (?, ?, ?)
               ON CONFLICT ("user", client) DO UPDATE SET touched_at = excluded.touched_at""",
            [user, "", at],
        )
    if max(count_failures(reader, user, client, since) for reader in readers) >= limit:
        return "client"
    if max(count_user_failures(reader, user, since) for reader in readers) >= user_limit and not any(
        signed_in_from(reader, user, (client, *known_as), known_since) for reader in readers
    ):
        return "user"
    con.execute(
        'INSERT INTO sign_in_attempts ("user", client, "at", ok, attempt_id) VALUES (?, ?, ?, false, ?)',
        [user, client, at, attempt_id],
    )
    return None


def settle_attempt(con: Any, attempt_id: str) -> None:
    """Mark a reserved attempt ok: the password was right (failures before it no longer count)."""
    con.execute("UPDATE sign_in_attempts SET ok = true WHERE attempt_id = ?", [attempt_id])


def count_failures(con: Any, user: str, client: str, since: datetime) -> int:
    """Failed sign-ins of `user` from `client` since `since`, after the last success."""
    found = con.execute(
        """SELECT count(*) FROM sign_in_attempts
           WHERE "user" = ? AND client = ? AND NOT ok AND "at" >= ?
             AND "at" > coalesce((SELECT max("at") FROM sign_in_attempts
                                   WHERE "user" = ? AND client = ? AND ok), TIMESTAMP '1970-01-01')""",
        [user, client, since, user, client],
    ).fetchone()
    return int(found[0])


def count_user_failures(con: Any, user: str, since: datetime) -> int:
    """Failed sign-ins of `user` from every client since `since` (a success does not clear
    them: the legitimate user signing in must not hand a guesser a fresh allowance)."""
    found = con.execute(
        'SELECT count(*) FROM sign_in_attempts WHERE "user" = ? AND NOT ok AND "at" >= ?', [user, since]
    ).fetchone()
    return int(found[0])


def signed_in_from(con: Any, user: str, clients: tuple[str, ...], since: datetime) -> bool:
    """Whether `user` signed in with a password from any of `clients` since `since`."""
    marks = ", ".join("?" for _ in clients)
    found = con.execute(
        f"""SELECT count(*) FROM sign_in_attempts
            WHERE "user" = ? AND client IN ({marks}) AND ok AND "at" >= ?""",
        [user, *clients, since],
    ).fetchone()
    return int(found[0]) > 0


def prune_attempts(con: Any, before: datetime) -> None:
    """Drop sign-in attempts made, and guard rows last touched, before `before`: anyone may
    attempt a sign-in under any name, so they must not pile up. A guard row is touched by
    every reservation of its user, so a live one is never dropped."""
    con.execute('DELETE FROM sign_in_attempts WHERE "at" < ?', [before])
    con.execute("DELETE FROM sign_in_guards WHERE touched_at < ?", [before])


def add_oidc_request(
    con: Any, state_sha256: str, *, nonce: str, code_verifier: str, redirect_uri: str, expires_at: datetime
) -> None:
    """An OIDC sign-in sent to the provider; expired ones are dropped (they can no longer be used,
    and anyone may start a sign-in, so they must not pile up)."""
    at = now()
    con.execute("DELETE FROM oidc_requests WHERE expires_at < ?", [at])
    con.execute(
        """INSERT INTO oidc_requests
               (state_sha256, nonce, code_verifier, redirect_uri, created_at, expires_at)
           VALUES (?, ?, ?, ?, ?, ?)""",
        [state_sha256, nonce, code_verifier, redirect_uri, at, expires_at],
    )


def take_oidc_request(con: Any, state_sha256: str, at: datetime) -> dict[str, Any] | None:
    """Use an OIDC sign-in's state once (compare-and-set); its row, or None when it is unknown,
    used already or expired."""
    cur = con.execute(
        """UPDATE oidc_requests SET used_at = ?
           WHERE state_sha256 = ? AND used_at IS NULL AND expires_at > ?""",
        [at, state_sha256, at],
    )
    if not cur.fetchone()[0]:
        return None
    found = rows(con.execute("SELECT * FROM oidc_requests WHERE state_sha256 = ?", [state_sha256]))
    return found[0] if found else None
