"""`warden validate RUNBOOK`: the guard's report; exit 0 when the runbook may be submitted."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import typer

from warden.cli._output import EXIT_FAIL, EXIT_OK, console, echo, friendly_errors, plain
from warden.errors import LoadError, UsageError


def register(app: typer.Typer) -> None:
    app.command("validate")(validate)


@friendly_errors
def validate(
    runbook: Path = typer.Argument(..., help="Runbook file (YAML or JSON)."),
    policy: Path | None = typer.Option(
        None, "--policy", "-p", help="Governance policy file (default: $WARDEN_POLICY)."
    ),
    tenant: str | None = typer.Option(
        None, "--tenant", "-t", help="Tenant to validate for (default: the runbook's)."
    ),
    depth: int = typer.Option(0, "--depth", min=0, max=16, help="Run depth the runbook would start at."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Check a runbook against the schema and the governance policy.

    Exit 0: may be submitted for approval. 1: may not. 2: usage error.
    """
    from warden.catalogue import default_catalogue
    from warden.governance import POLICY_ENV, load_policy
    from warden.guard import GuardContext, load_error_report, validate_data
    from warden.llm_config import configured_model
    from warden.runbooks import read_runbook

    if not runbook.exists():
        raise UsageError(f"{runbook}: file not found", fix="check the runbook path")

    loaded_policy = load_policy(policy) if (policy or os.environ.get(POLICY_ENV)) else None
    ctx = GuardContext(
        catalogue=default_catalogue(),
        policy=loaded_policy,
        depth=depth,
        llm_model=configured_model(),
    )
    try:
        parsed = read_runbook(runbook)
    except LoadError as exc:
        report = load_error_report(exc, ctx)
    else:
        if loaded_policy is not None:
            name = tenant or _tenant_of(parsed.data)
            if name is None:
                raise UsageError("the runbook names no tenant", fix="pass --tenant")
            loaded_policy.tenant(name)  # unknown tenant: usage error listing the known ones
            ctx = replace(ctx, tenant=name)
        elif tenant is not None:
            raise UsageError("--tenant needs a policy", fix=f"pass --policy FILE or set {POLICY_ENV}")
        report = validate_data(parsed, ctx)

    if as_json:
        echo(report.model_dump_json(indent=2))
    else:
        _print_report(report, policy_given=loaded_policy is not None)
    raise typer.Exit(EXIT_OK if report.ok else EXIT_FAIL)


def _tenant_of(data: object) -> str | None:
    value = data.get("tenant") if isinstance(data, dict) else None
    return value if isinstance(value, str) else None


def _print_report(report, *, policy_given: bool) -> None:  # type: ignore[no-untyped-def]
    from rich.table import Table

    title = f"{report.runbook or report.source} v{report.version}" if report.version else str(report.source)
    checks = Table(title=f"Guard report: {plain(title)}", show_lines=False)
    checks.add_column("check")
    checks.add_column("status")
    checks.add_column("issues", justify="right")
    style = {"passed": "green", "failed": "red", "skipped": "dim"}
    for check in report.checks:
        checks.add_row(check.name, f"[{style[check.status]}]{check.status}[/]", str(check.issues or ""))
    console.print(checks)
    if report.issues:
        table = Table(title="Issues", show_lines=True)
        for col in ("severity", "code", "where", "message", "fix"):
            table.add_column(col, overflow="fold")
        for item in report.issues:
            where = item.path or "(runbook)"
            if item.line:
                where += f"\nline {item.line}"
            sev = "[red]error[/]" if item.severity == "error" else "[yellow]warning[/]"
            table.add_row(sev, item.code, plain(where), plain(item.message), plain(item.fix or ""))
        console.print(table)
    if not policy_given:
        console.print(
            "[yellow]no policy given: governance checks skipped (pass --policy or set WARDEN_POLICY)[/]"
        )
    if report.ok:
        console.print(
            f"[bold green]OK[/]: may be submitted for approval"
            f" (estimated cost ${report.cost_estimate_usd:.2f}, sha256 {(report.runbook_sha256 or '')[:12]})"
        )
    else:
        errors = sum(1 for i in report.issues if i.severity == "error")
        console.print(f"[bold red]NOT OK[/]: {errors} error(s); fix them before submitting")
