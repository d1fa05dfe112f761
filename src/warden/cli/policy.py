"""`warden policy`: put a governance policy in force, engage or release a kill switch, show
what is in force. Each change is an administrator's audited act; nothing else changes policy."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import typer

from warden.cli._output import console, echo, friendly_errors, plain

__all__ = ["register"]

policy_app = typer.Typer(help="The governance policy in force, and its kill switches.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Adds the command group to the ``warden`` app."""
    app.add_typer(policy_app, name="policy")


@policy_app.command("apply")
@friendly_errors
def apply(
    file: Path = typer.Argument(..., help="The policy file to put in force."),
    user: str | None = typer.Option(None, "--as", help="An admin named by the policy in force."),
    reason: str | None = typer.Option(None, "--reason", help="Why; recorded in the audit trail."),
) -> None:
    """Put FILE in force. New runs are bound to it; runs already requested keep theirs."""
    from warden.cli._runtime import USER_ENV, open_service, principal
    from warden.errors import WardenError
    from warden.service import NoPrincipal, Principal

    service = open_service(None, llm=False)
    try:
        who = principal(service, user)
    except WardenError as exc:
        if exc.code not in ("no_policy", "no_store"):
            raise
        # an empty state directory: the new policy's admins may put it in force
        name = user or os.environ.get(USER_ENV)
        if not name:
            raise NoPrincipal("no identity given", fix="pass --as USER or set WARDEN_USER") from None
        who = Principal(user=name, auth="asserted")
    applied = service.apply_policy(who, file, reason)
    console.print(
        plain(f"policy {applied.sha256[:12]} from {applied.path} is in force (applied by {who.user})")
    )


@policy_app.command("show")
@friendly_errors
def show(
    user: str | None = typer.Option(None, "--as", help="Who you are; default $WARDEN_USER."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The policy in force: its hash, file, who applied it and the kill switches."""
    from warden.cli._runtime import open_service, principal

    service = open_service(None, llm=False)
    who = principal(service, user)
    current = service.policies.in_force(may_initialise=False)
    switches: dict[str, str | None] = {t: current.kill_switch_reason(t) for t in who.tenants}
    info: dict[str, Any] = {
        "sha256": current.sha256,
        "source": str(current.path),
        "admins": current.policy.admins,
        "kill_switch": switches,
    }
    if as_json:
        echo(json.dumps(info, indent=2))
        return
    console.print(plain(f"policy {info['sha256']} from {info['source']}"))
    for tenant, why in switches.items():
        console.print(plain(f"  {tenant}: " + (f"KILL SWITCH ENGAGED ({why})" if why else "running allowed")))


@policy_app.command("kill-switch")
@friendly_errors
def kill_switch(
    action: str = typer.Argument(..., help="engage or release"),
    tenant: str | None = typer.Option(None, "--tenant", "-t", help="One tenant (default: every tenant)."),
    reason: str | None = typer.Option(None, "--reason", help="Why; required to engage."),
    user: str | None = typer.Option(None, "--as", help="An admin named by the policy in force."),
) -> None:
    """Stop (engage) or allow (release) runs: running trees stop before their next step,
    whatever policy they are bound to."""
    from warden.cli._runtime import open_service, principal
    from warden.errors import UsageError

    if action not in ("engage", "release"):
        raise UsageError(f"unknown action '{action}'", fix="use engage or release")
    service = open_service(None, llm=False)
    who = principal(service, user, writing=True)
    applied = service.kill_switch(who, tenant, engage=action == "engage", reason=reason)
    console.print(
        plain(
            f"kill switch {action}d for {tenant or 'every tenant'}; policy {applied.sha256[:12]} is in force"
        )
    )
