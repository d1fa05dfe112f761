"""`warden review`, `warden approve`, `warden reject`: the human in the loop."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from warden.cli._output import EXIT_OK, console, echo, friendly_errors, plain


def register(app: typer.Typer) -> None:
    app.command("review")(review)
    app.command("approve")(approve)
    app.command("reject")(reject)


@friendly_errors
def review(
    run_id: str = typer.Argument(...),
    user: str | None = typer.Option(None, "--as", help="Reviewer; default $WARDEN_USER."),
    policy: Path | None = typer.Option(None, "--policy", "-p"),
    as_json: bool = typer.Option(False, "--json"),
    yaml_out: Path | None = typer.Option(
        None, "--yaml", help="Also write the draft to this file, to edit and approve with --runbook."
    ),
) -> None:
    """Show the pending draft in full, the document it is about, its validation report, cost
    estimate and diff against the last approved version."""
    from rich.syntax import Syntax

    from warden.cli._client import remote
    from warden.cli._runtime import open_service, principal
    from warden.cli.report import write_output
    from warden.runbooks.load import dump_runbook, runbook_from_data

    client = remote(user, policy)
    if client is not None:
        detail = client.call("GET", f"/api/runs/{run_id}")
        if not detail.get("approval"):
            from warden.service.errors import RunRefused

            raise RunRefused(
                f"run '{run_id}' is {detail['run']['status']}, not waiting for approval",
                fix="see `warden runs --status waiting_approval`",
            )
        payload = detail["approval"]
    else:
        service = open_service(policy, llm=False)
        payload = service.review(principal(service, user), run_id)
    draft_yaml = dump_runbook(runbook_from_data(payload["runbook"]))
    if yaml_out is not None:
        write_output(draft_yaml, yaml_out)
    if as_json:
        echo(json.dumps(payload, indent=2, default=str))
        raise typer.Exit(EXIT_OK)
    report = payload["report"]
    console.print(
        f"[bold]run {plain(run_id)}[/] (tenant {plain(payload['tenant'])}, depth {payload['depth']}, "
        f"requested by {plain(payload['requester'])})"
    )
    console.print(
        f"requires role: [bold]{plain(payload['required_role'])}[/]; estimated cost "
        f"${payload['cost_estimate_usd']:.2f}; sha256 {payload['runbook_sha256']}"
    )
    status = "[green]passed[/]" if report.get("ok") else "[red]failed[/]"
    console.print(
        f"guard: {status}; checks: "
        + plain(", ".join(f"{c['name']}={c['status']}" for c in report.get("checks", [])))
    )
    for item in report.get("issues", []):
        console.print(plain(f"  {item['severity']} {item['code']} at {item['path']}: {item['message']}"))
    for doc in payload.get("documents", []):
        pages = f", {doc['pages']} pages" if doc.get("pages") else ""
        console.print(
            plain(
                f"document: {doc['name']} ({doc['format']}{pages}, {doc['passages']} passages, "
                f"id {doc['id'][:12]})"
            )
        )
    console.print(Syntax(draft_yaml, "yaml", word_wrap=True))
    console.print(f"[bold]changes[/]: {plain(payload['change_summary'])}")
    if payload["diff"]:
        console.print(Syntax(payload["diff"], "diff", word_wrap=True))


def _decide(
    run_id: str,
    user: str | None,
    role: str,
    kind: str,
    comment: str | None,
    edited: Path | None,
    policy: Path | None,
) -> None:
    from warden.cli._client import remote
    from warden.cli._runtime import open_service, principal
    from warden.cli.analyse import print_outcome
    from warden.runbooks.load import read_runbook, runbook_from_data

    client = remote(user, policy)
    if client is not None:
        _decide_remote(client, run_id, role, kind, comment, edited)
        return
    service = open_service(policy)
    who = principal(service, user)
    edited_runbook = None
    if edited is not None:
        parsed = read_runbook(edited)
        edited_runbook = runbook_from_data(parsed.data, source=str(edited))
        kind = "edit"
    _decision(kind, who.user, role, "0" * 64, comment, edited_runbook)  # option errors name the option
    outcome = service.decide(who, run_id, kind, role=role, comment=comment, edited_runbook=edited_runbook)  # type: ignore[arg-type]
    console.print(
        plain(f"{'rejected' if kind == 'reject' else 'approved'} run {run_id} as {who.user} ({role})")
    )
    raise typer.Exit(print_outcome(outcome) if kind != "reject" else EXIT_OK)


def _decide_remote(
    client: Any, run_id: str, role: str, kind: str, comment: str | None, edited: Path | None
) -> None:
    """Decide through the server (the token says who decides), then wait for the tree."""
    from warden.cli.analyse import print_outcome
    from warden.safeload import read_text

    body: dict[str, Any] = {"decision": kind, "role": role}
    body["reason" if kind == "reject" else "comment"] = comment
    if edited is not None:
        body["decision"], body["runbook"] = "edit", read_text(edited)
    done = client.call("POST", f"/api/runs/{run_id}/decision", json=body)
    me = client.call("GET", "/api/me")["user"]
    console.print(plain(f"{'rejected' if kind == 'reject' else 'approved'} run {run_id} as {me} ({role})"))
    outcome = client.settle(done["run_id"])
    raise typer.Exit(print_outcome(outcome) if kind != "reject" else EXIT_OK)


_OPTION_OF = {"approver": "--as", "role": "--role", "comment": "--comment / --reason", "": "--reason"}


def _decision(kind: str, user: str, role: str, sha256: str, comment: str | None, edited: Any) -> Any:
    """The ApprovalDecision, or a usage error naming the option: a blank --reason, an empty
    --role or a comment over 4,000 characters failed validation as an 'internal error'."""
    from pydantic import ValidationError

    from warden.errors import UsageError
    from warden.schemas import ApprovalDecision

    try:
        return ApprovalDecision(
            decision=kind,  # type: ignore[arg-type]
            approver=user,
            role=role,
            runbook_sha256=sha256,
            comment=comment,
            edited_runbook=edited,
        )
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        field = str(err["loc"][0]) if err["loc"] else ""
        option = _OPTION_OF.get(field, field)
        message = err["msg"].removeprefix("Value error, ")
        raise UsageError(
            f"{option}: {message}", fix="nothing was decided; correct the option and run the command again"
        ) from None


@friendly_errors
def approve(
    run_id: str = typer.Argument(...),
    user: str | None = typer.Option(None, "--as", help="The approver, e.g. dora@acme; default $WARDEN_USER."),
    role: str = typer.Option(
        ..., "--role", help="The role you approve in; the runbook names the one it needs."
    ),
    comment: str | None = typer.Option(None, "--comment"),
    edited: Path | None = typer.Option(
        None, "--runbook", help="Approve this edited runbook instead (re-validated)."
    ),
    policy: Path | None = typer.Option(None, "--policy", "-p"),
) -> None:
    """Approve a waiting run (or an edited version of it); execution continues in this process."""
    _decide(run_id, user, role, "approve", comment, edited, policy)


@friendly_errors
def reject(
    run_id: str = typer.Argument(...),
    user: str | None = typer.Option(None, "--as", help="The approver; default $WARDEN_USER."),
    role: str = typer.Option(..., "--role"),
    reason: str = typer.Option(..., "--reason", help="Why; recorded in the audit trail."),
    policy: Path | None = typer.Option(None, "--policy", "-p"),
) -> None:
    """Reject a waiting run: it never executes."""
    _decide(run_id, user, role, "reject", reason, None, policy)
