"""`warden audit RUN`: the run tree's audit trail, in order, redacted, as JSON lines or CSV."""

from __future__ import annotations

import io
from pathlib import Path

import typer

from warden.cli._output import friendly_errors
from warden.errors import UsageError

__all__ = ["FORMATS", "audit", "register"]

FORMATS = ("jsonl", "csv")


def register(app: typer.Typer) -> None:
    """Adds the command to the ``warden`` app."""
    app.command("audit")(audit)


@friendly_errors
def audit(
    run_id: str = typer.Argument(..., help="A run; the runs below it are included."),
    fmt: str = typer.Option("jsonl", "--format", "-f", help="jsonl (one event per line) or csv."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write here instead of stdout."),
    user: str | None = typer.Option(None, "--as", help="Auditor; must belong to the run's tenant."),
    policy: Path | None = typer.Option(None, "--policy", "-p"),
) -> None:
    """Every audit event of the run tree with actor, time and payload; secrets and personal data redacted.

    The events say which runbook version ran, for which tenant, with which model configuration,
    which analysers ran, who approved, which guard checks passed and what changed since the
    previous version. Exit 0: written. 1: the store could not be read. 2: usage error.
    """
    from warden.cli._runtime import home_dir, open_service, principal
    from warden.cli.report import write_output
    from warden.investigate import export_records, open_store, write_csv, write_jsonl

    if fmt not in FORMATS:
        raise UsageError(f"unknown audit format '{fmt}'", fix=f"use one of: {', '.join(FORMATS)}")
    service = open_service(policy, llm=False)
    service.visible_run(principal(service, user), run_id)
    records = export_records(open_store(home_dir()), run_id)
    buffer = io.StringIO()
    (write_jsonl if fmt == "jsonl" else write_csv)(records, buffer)
    write_output(buffer.getvalue(), out)
