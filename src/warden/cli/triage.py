"""`warden triage FINDING_ID`: mark a finding false_positive, accepted_risk or fixed (carried
over to later runs by its fingerprint); `warden diff RUN_A RUN_B`: what changed between runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from warden.cli._output import console, echo, friendly_errors, plain

__all__ = ["diff", "register", "triage"]


def register(app: typer.Typer) -> None:
    """Adds the commands to the ``warden`` app."""
    app.command("triage")(triage)
    app.command("diff")(diff)


def _jsonable(data: Any) -> str:
    return json.dumps(data, default=str, indent=2)


@friendly_errors
def triage(
    finding_id: str = typer.Argument(..., help="A finding id (see `warden findings RUN --json`)."),
    mark: str = typer.Option(..., "--mark", help="false_positive, accepted_risk or fixed."),
    reason: str = typer.Option(..., "--reason", help="Why: kept with the triage and in the audit trail."),
    run_id: str | None = typer.Option(
        None, "--run", help="The run whose finding it is (default: the newest run holding it)."
    ),
    user: str | None = typer.Option(None, "--as", help="Who you are; default $WARDEN_USER."),
    policy: Path | None = typer.Option(None, "--policy", "-p"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Triage a finding; later runs of the tenant that find the same thing (same fingerprint)
    carry it, until the evidence changes (then it shows as stale).

    Exit 0: recorded. 1: your role may not triage. 2: usage error (unknown finding or run).
    """
    from warden.cli._runtime import open_service, principal

    service = open_service(policy, llm=False)
    who = principal(service, user)
    shown = service.triage(who, finding_id, mark, reason, run_id=run_id)
    if as_json:
        echo(_jsonable({k: shown[k] for k in ("finding_id", "run_id", "fingerprint", "triage")}))
        return
    console.print(
        f"{plain(finding_id)} ({plain(shown['code'])}) marked {plain(mark)} by {plain(who.user)}; "
        f"fingerprint {plain(shown['fingerprint'])}"
    )


@friendly_errors
def diff(
    run_a: str = typer.Argument(..., help="The earlier run."),
    run_b: str = typer.Argument(..., help="The later run."),
    user: str | None = typer.Option(None, "--as", help="Who you are; both runs must be yours to see."),
    policy: Path | None = typer.Option(None, "--policy", "-p"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Findings of RUN_B against RUN_A by fingerprint: new, resolved, unchanged, suppressed."""
    from warden.cli._runtime import open_service, principal

    service = open_service(policy, llm=False)
    result = service.diff(principal(service, user), run_a, run_b)
    if as_json:
        echo(_jsonable(result))
        return
    for section in ("new", "resolved", "unchanged", "suppressed"):
        entries = result[section]
        console.print(f"[bold]{section}[/] ({len(entries)})")
        for e in entries:
            where = e["system_id"] or e["data_category"] or ""
            note = ""
            if e.get("triage"):
                note = f"  triage: {e['triage']['state']} ({e['triage']['status']}) by {e['triage']['who']}"
            if e.get("evidence_changed"):
                note += "  evidence changed"
            console.print(
                f"  {plain(e['severity'])} {plain(e['code'])} {plain(where)} "
                f"[dim]{plain(e['finding_id'])}[/]{plain(note)}"
            )
