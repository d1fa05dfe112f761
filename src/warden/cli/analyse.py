"""`warden analyse` and `warden resume`: start a run tree, or continue one after a crash."""

from __future__ import annotations

from pathlib import Path

import typer

from warden.cli._output import EXIT_FAIL, EXIT_OK, console, friendly_errors, plain

FAILED = {"failed", "rejected", "budget_exceeded", "depth_exceeded", "timed_out", "cancelled"}


def register(app: typer.Typer) -> None:
    app.command("analyse")(analyse)
    app.command("resume")(resume)


def print_outcome(outcome, as_json: bool = False) -> int:  # type: ignore[no-untyped-def]
    """Say where the tree stopped and what to do next; return the exit code."""
    import json

    if as_json:
        typer.echo(
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
        ..., help="Privacy notices to analyse (PDF, HTML, DOCX, Markdown, text)."
    ),
    tenant: str = typer.Option(..., "--tenant", "-t", help="Tenant the documents belong to."),
    user: str = typer.Option(..., "--as", help="The requesting user, e.g. ana@acme."),
    runbook: Path | None = typer.Option(
        None, "--runbook", help="Root runbook (default: privacy-policy-review)."
    ),
    policy: Path | None = typer.Option(
        None, "--policy", "-p", help="Governance policy (default: $WARDEN_POLICY)."
    ),
    as_json: bool = typer.Option(False, "--json", help="One JSON line per run."),
) -> None:
    """Analyse documents: one run tree each, stopping where a human must approve.

    Exit 0: finished or waiting for approval. 1: a run failed or was refused. 2: usage error.
    """
    from warden.cli._runtime import open_runtime
    from warden.graph import start_run

    rt = open_runtime(policy)
    code = EXIT_OK
    for path in paths:
        if not as_json:
            console.print(f"[dim]{plain(f'analysing {path} for {tenant} as {user} ...')}[/]")
        outcome = start_run(rt, path, tenant=tenant, requester=user, runbook=runbook)
        code = max(code, print_outcome(outcome, as_json))
    raise typer.Exit(code)


@friendly_errors
def resume(
    run_id: str = typer.Argument(..., help="Any run of the tree."),
    user: str | None = typer.Option(None, "--as", help="Who resumes; must belong to the run's tenant."),
    policy: Path | None = typer.Option(None, "--policy", "-p"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Continue a run tree from its last checkpoint (after a crash or a kill)."""
    from warden.cli._runtime import open_runtime
    from warden.errors import UsageError
    from warden.graph import resume_run

    rt = open_runtime(policy)
    if user is not None:
        with rt.store.connect(read_only=True) as con:
            row = con.execute("SELECT tenant FROM runs WHERE run_id = ?", [run_id]).fetchone()
        if row is None or not rt.policy.roles_of(row[0], user):
            raise UsageError(
                f"no run '{run_id}' visible to '{user}'",
                fix="list runs with `warden runs`",
                code="unknown_run",
            )
    raise typer.Exit(print_outcome(resume_run(rt, run_id), as_json))
