"""`warden ledger`: which ledger this state directory records into, and a snapshot of it as a
DuckDB file (``export``) for notebooks when the ledger is Postgres (WARDEN_LEDGER_URL)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from warden.cli._output import console, echo, friendly_errors, plain

__all__ = ["register"]

ledger_app = typer.Typer(
    help="The ledger: DuckDB file or Postgres (WARDEN_LEDGER_URL).", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    """Adds the command group to the ``warden`` app."""
    app.add_typer(ledger_app, name="ledger")


@ledger_app.command("export")
@friendly_errors
def export(
    to: Path = typer.Option(..., "--to", help="A new DuckDB file to write the snapshot to."),
    user: str | None = typer.Option(None, "--as", help="An admin named by the policy in force."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Snapshot the ledger (every table, one consistent moment) into a new DuckDB file with the
    same schema; notebooks and `warden.investigate.open_store(FILE)` read it unchanged."""
    from warden.cli._runtime import open_service, principal

    service = open_service(None, llm=False)
    counts = service.export_ledger(principal(service, user), to)
    if as_json:
        echo(json.dumps({"from": service.store.where(), "to": str(to), "rows": counts}))
        return
    console.print(
        plain(f"exported {sum(counts.values())} rows of {len(counts)} tables from {service.store.where()}")
        + plain(f" to {to}")
    )
