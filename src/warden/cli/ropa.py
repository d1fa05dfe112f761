"""`warden ropa RUN`: the record of processing activities (GDPR Art. 30(1)) a run's notice and
scans support, per system and purpose, each field citing its source or marked a gap."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from warden.cli._output import friendly_errors
from warden.errors import UsageError

__all__ = ["FORMATS", "register", "ropa"]

FORMATS = ("json", "csv", "html")


def register(app: typer.Typer) -> None:
    """Adds the command to the ``warden`` app."""
    app.command("ropa")(ropa)


@friendly_errors
def ropa(
    run_id: str = typer.Argument(..., help="A completed run; the runs below it (the scans) are included."),
    fmt: str = typer.Option("json", "--format", "-f", help="json, csv (one row per field value) or html."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write here instead of stdout."),
    user: str | None = typer.Option(None, "--as", help="Reader; must belong to the run's tenant."),
    policy: Path | None = typer.Option(None, "--policy", "-p"),
) -> None:
    """Record of processing activities: purposes, data subjects, data categories (fideslang),
    recipients, transfers and safeguards, retention and security measures, per system and
    purpose; each value cites a passage (id and quote) or a finding; missing fields are gaps.

    Exit 0: written. 1: the store could not be read. 2: usage error (unknown run, bad format).
    """
    from warden.cli._runtime import open_service, principal
    from warden.cli.report import write_output
    from warden.investigate.ropa import ropa_csv, ropa_html

    if fmt not in FORMATS:
        raise UsageError(f"unknown ropa format '{fmt}'", fix=f"use one of: {', '.join(FORMATS)}")
    service = open_service(policy, llm=False)
    record = service.ropa(principal(service, user), run_id)
    if fmt == "json":
        text = json.dumps(record, indent=2, default=str, ensure_ascii=False) + "\n"
    elif fmt == "csv":
        text = ropa_csv(record)
    else:
        text = ropa_html(record)
    write_output(text, out)
