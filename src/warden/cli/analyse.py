"""`warden analyse`, `warden resume` and `warden cancel`: start a run tree, continue one after a
crash, or withdraw one that waits."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from warden.cli._output import EXIT_FAIL, EXIT_OK, console, echo, friendly_errors, plain

if TYPE_CHECKING:
    from warden.cli._client import Client


def register(app: typer.Typer) -> None:
    app.command("analyse")(analyse)
    app.command("resume")(resume)
    app.command("cancel")(cancel)


def print_outcome(outcome, as_json: bool = False) -> int:  # type: ignore[no-untyped-def]
    """Say where the tree stopped and what to do next; return the exit code."""
    import json

    from warden.schemas.status import UNSUCCESSFUL as FAILED

    if as_json:
        echo(
            json.dumps(
                {
                    "run_id": outcome.root_run_id,
                    "status": outcome.status,
                    "waiting": [
                        {"run_id": w["run_id"], "required_role": w["required_role"], "depth": w["depth"]}
                        for w in outcome.waiting
                    ],
                    # why it failed (e.g. a document error's code); absent while all is well
                    **({"reason": outcome.reason} if outcome.status in FAILED else {}),
                }
            )
        )
    else:
        console.print(f"run [bold]{outcome.root_run_id}[/]: {outcome.status}")
        if outcome.status in FAILED and outcome.reason:
            console.print(f"  reason: {outcome.reason}", markup=False)
        for w in outcome.waiting:
            console.print(
                f"  waiting for approval: run [bold]{w['run_id']}[/] (depth {w['depth']}, runbook "
                f"{w['runbook']['runbook']}, role {w['required_role']}, est. ${w['cost_estimate_usd']:.2f})\n"
                f"    review:  warden review {w['run_id']}\n"
                f"    approve: warden approve {w['run_id']} --as USER --role {w['required_role']}"
            )
        if not outcome.waiting and outcome.status == "completed":
            console.print(f"  findings: warden findings {outcome.root_run_id}")
    return EXIT_FAIL if outcome.status in FAILED else EXIT_OK


@friendly_errors
def analyse(
    paths: list[Path] = typer.Argument(
        ...,
        help="Privacy notice(s) to analyse (PDF, HTML, DOCX, Markdown, text). Several are one "
        "notice (a document set): a product notice and the main policy it refers to.",
    ),
    tenant: str = typer.Option(..., "--tenant", "-t", help="Tenant the documents belong to."),
    user: str | None = typer.Option(
        None, "--as", help="The requesting user, e.g. ana@acme; default $WARDEN_USER."
    ),
    runbook: Path | None = typer.Option(
        None, "--runbook", help="Root runbook (default: privacy-policy-review)."
    ),
    policy: Path | None = typer.Option(
        None, "--policy", "-p", help="Governance policy (default: $WARDEN_POLICY)."
    ),
    each: bool = typer.Option(
        False, "--each", help="Analyse each document on its own (one run tree each), not as one set."
    ),
    as_json: bool = typer.Option(False, "--json", help="One JSON line per run."),
) -> None:
    """Analyse a notice: one run tree, stopping where a human must approve.

    Several documents are read as one notice: completeness is judged over the set, a reference
    in one to another is resolved to it, and every citation names its document. --each runs
    one tree per document instead.

    Exit 0: finished or waiting for approval. 1: a run failed or was refused. 2: usage error.
    """
    from warden.cli._client import remote
    from warden.cli._runtime import open_service, principal

    sets = [[path] for path in paths] if each else [list(paths)]
    client = remote(user, policy)
    if client is not None:
        raise typer.Exit(_analyse_remote(client, sets, tenant, runbook, as_json))
    service = open_service(policy)
    if len(sets) > 1:  # a batch: the file lingers open from one analysis to the next
        service.long_lived("batch")
    who = principal(service, user, writing=True)
    code = EXIT_OK
    try:
        for documents in sets:
            if not as_json:
                named = " + ".join(str(d) for d in documents)
                console.print(f"[dim]{plain(f'analysing {named} for {tenant} as {who.user} ...')}[/]")
            outcome = service.start(who, documents, tenant=tenant, runbook=runbook)
            code = max(code, print_outcome(outcome, as_json))
    finally:
        service.store.close()  # a lingering file now, not at exit
    raise typer.Exit(code)


def _analyse_remote(
    client: Client, sets: list[list[Path]], tenant: str, runbook: Path | None, as_json: bool
) -> int:
    """Upload each set to the server (one ``file`` part per document) and wait until its tree
    finishes or waits."""
    from contextlib import ExitStack

    from warden.safeload import read_text

    code = EXIT_OK
    for documents in sets:
        if not as_json:
            named = " + ".join(str(d) for d in documents)
            console.print(f"[dim]{plain(f'uploading {named} for {tenant} to {client.base_url} ...')}[/]")
        data = {"tenant": tenant, **({"runbook_yaml": read_text(runbook)} if runbook else {})}
        with ExitStack() as stack:
            files = [("file", (Path(d).name, stack.enter_context(open(d, "rb")))) for d in documents]
            started = client.call("POST", "/api/runs", data=data, files=files)
        code = max(code, print_outcome(client.settle(started["run_id"]), as_json))
    return code


@friendly_errors
def resume(
    run_id: str = typer.Argument(..., help="Any run of the tree."),
    user: str | None = typer.Option(None, "--as", help="Who resumes; must belong to the run's tenant."),
    policy: Path | None = typer.Option(None, "--policy", "-p"),
    take_over: bool = typer.Option(
        False,
        "--take-over",
        help="On a shared ledger: take the tree over from its host, which is gone for good (an "
        "admin or operator of the tenant; audited; it starts again here from its request).",
    ),
    reason: str | None = typer.Option(
        None, "--reason", help="Why the tree's host is gone (with --take-over)."
    ),
    from_host: str | None = typer.Option(
        None,
        "--from-host",
        help="With --take-over: the host id you know is gone (as the refusal named it); refused "
        "if the tree has another host by now (another take-over moved it).",
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Continue a run tree from its last checkpoint (after a crash or a kill), under the policy
    it was requested under. On a ledger several hosts share, only the host that recorded the
    tree resumes it (or one that took it over with --take-over)."""
    from warden.cli._runtime import open_service, principal
    from warden.errors import UsageError

    if (reason is not None or from_host is not None) and not take_over:
        raise UsageError("--reason and --from-host go with --take-over", fix="add --take-over, or drop them")
    service = open_service(policy)
    outcome = service.resume(
        principal(service, user),
        run_id,
        take_over=(reason or "") if take_over else None,
        from_host=from_host,
    )
    raise typer.Exit(print_outcome(outcome, as_json))


@friendly_errors
def cancel(
    run_id: str = typer.Argument(..., help="A run waiting for approval; its whole tree stops."),
    reason: str = typer.Option(..., "--reason", help="Why; recorded in the audit trail."),
    user: str | None = typer.Option(None, "--as", help="Its requester or an approver; default $WARDEN_USER."),
    policy: Path | None = typer.Option(None, "--policy", "-p"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Withdraw a run that waits for approval (its requester or an approver may); audited."""
    from warden.cli._client import remote
    from warden.cli._runtime import open_service, principal

    client = remote(user, policy)
    if client is not None:
        client.call("POST", f"/api/runs/{run_id}/cancel", json={"reason": reason})
        print_outcome(client.settle(run_id), as_json)
        raise typer.Exit(EXIT_OK)
    service = open_service(policy, llm=False)
    outcome = service.cancel(principal(service, user), run_id, reason)
    print_outcome(outcome, as_json)
    raise typer.Exit(EXIT_OK)
