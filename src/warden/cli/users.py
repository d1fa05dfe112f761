"""`warden users ...`: the operator's accounts and API tokens for `warden serve`.

These commands act on the local state directory and take no principal: being on the host with
the state directory is the credential (whoever can read it can read everything anyway). Each
act is audited as `operator@host` on the account's tenant chain; secrets are never stored or
audited (passwords as argon2 hashes, tokens as SHA-256 digests) and a token is printed once.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from warden.cli._output import console, echo, err_console, friendly_errors, plain

users_app = typer.Typer(help="Accounts and API tokens for `warden serve` (the operator's, on the host).")


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")


def _password(from_stdin: bool) -> str:
    from warden.errors import UsageError

    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    if not password:
        raise UsageError("no password given", fix="type one, or pipe it with --password-stdin")
    return str(password)


def _service(policy: Path | None):  # type: ignore[no-untyped-def]
    from warden.cli._runtime import open_service

    return open_service(policy, llm=False)


@users_app.command("add")
@friendly_errors
def add(
    user: str = typer.Argument(..., help="A user the policy in force names, e.g. dora@acme."),
    tenant: str = typer.Option(..., "--tenant", "-t", help="The tenant the user belongs to."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from stdin."),
    policy: Path | None = typer.Option(None, "--policy", "-p"),
) -> None:
    """Create an account with a password (the user must belong to TENANT in the policy in force)."""
    service = _service(policy)
    service.accounts.add_user(user, tenant, _password(password_stdin))
    console.print(plain(f"account {user} added for tenant {tenant}"))


@users_app.command("passwd")
@friendly_errors
def passwd(
    user: str = typer.Argument(...),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from stdin."),
    policy: Path | None = typer.Option(None, "--policy", "-p"),
) -> None:
    """Set a new password; the user's browser sessions end and their API tokens are revoked."""
    service = _service(policy)
    ended = service.accounts.set_password(user, _password(password_stdin))
    console.print(
        plain(
            f"password of {user} changed; their sessions ended ({ended['sessions_ended']}) "
            f"and their API tokens were revoked ({ended['tokens_revoked']}): issue new ones "
            f"with `warden users token {user}`"
        )
    )


@users_app.command("disable")
@friendly_errors
def disable(
    user: str = typer.Argument(..., help="An account, or an OIDC user the policy names."),
    policy: Path | None = typer.Option(None, "--policy", "-p"),
) -> None:
    """Disable an account: no sign-in (password or OIDC); its sessions end and tokens are revoked."""
    service = _service(policy)
    done = service.accounts.set_disabled(user, True)
    said = "disabled" if done["changed"] else "was disabled already"
    console.print(
        plain(
            f"account {user} {said}; sessions ended: {done['sessions_ended']}, "
            f"API tokens revoked: {done['tokens_revoked']} (`warden users enable {user}` undoes it)"
        )
    )


@users_app.command("enable")
@friendly_errors
def enable(
    user: str = typer.Argument(...),
    policy: Path | None = typer.Option(None, "--policy", "-p"),
) -> None:
    """Enable a disabled account again (its revoked tokens stay revoked: issue new ones)."""
    service = _service(policy)
    done = service.accounts.set_disabled(user, False)
    said = "enabled" if done["changed"] else "was not disabled"
    console.print(plain(f"account {user} {said}"))


@users_app.command("token")
@friendly_errors
def token(
    user: str = typer.Argument(...),
    expires: str = typer.Option("30d", "--expires", help="Lifetime: 90m, 12h, 30d, 8w or never."),
    policy: Path | None = typer.Option(None, "--policy", "-p"),
) -> None:
    """Issue an API token; it is printed once, on stdout (only its hash is kept)."""
    from warden.service.accounts import parse_expiry

    service = _service(policy)
    issued = service.accounts.issue_token(user, parse_expiry(expires))
    until = issued.expires_at.isoformat(timespec="seconds") + "Z" if issued.expires_at else "never"
    err_console.print(plain(f"token {issued.token_id} for {user}, expires {until} (shown once)"))
    echo(issued.secret)


@users_app.command("revoke")
@friendly_errors
def revoke(
    token_id: str = typer.Argument(..., help="The token's id (`warden users list`), not its secret."),
    policy: Path | None = typer.Option(None, "--policy", "-p"),
) -> None:
    """Revoke an API token: it stops working at once."""
    service = _service(policy)
    row = service.accounts.revoke_token(token_id)
    console.print(plain(f"token {row['token_id']} of {row['user']} revoked"))


@users_app.command("list")
@friendly_errors
def list_users(
    as_json: bool = typer.Option(False, "--json"),
    policy: Path | None = typer.Option(None, "--policy", "-p"),
) -> None:
    """Accounts and their tokens (ids, expiry, revocation, last use; never secrets)."""
    service = _service(policy)
    accounts = service.accounts.list()
    if as_json:
        echo(json.dumps(accounts, default=str, indent=2))
        return
    for a in accounts:
        disabled = ", DISABLED" if a["disabled"] else ""
        console.print(
            plain(f"{a['user']} (tenant {a['tenant']}, {a['live_tokens']} live token(s){disabled})")
        )
        for t in a["tokens"]:
            state = "revoked" if t["revoked_at"] else f"expires {t['expires_at'] or 'never'}"
            console.print(
                plain(f"  token {t['token_id']}: {state}, last used {t['last_used_at'] or 'never'}")
            )
    console.print(f"{len(accounts)} account(s)")
