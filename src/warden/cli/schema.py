"""`warden schema NAME`: print the JSON Schema of a contract."""

from __future__ import annotations

import json

import typer

from warden.cli._output import echo, friendly_errors
from warden.errors import UsageError


def register(app: typer.Typer) -> None:
    app.command("schema")(schema)


@friendly_errors
def schema(
    name: str = typer.Argument(
        None, help="runbook, manifest, finding, validation-report, approval, policy, document"
    ),
    list_names: bool = typer.Option(False, "--list", help="List the schema names."),
) -> None:
    """Print the JSON Schema of one of Warden's contracts."""
    from warden.schemas import SCHEMAS

    if list_names or name is None:
        echo("\n".join(SCHEMAS))
        return
    model = SCHEMAS.get(name)
    if model is None:
        raise UsageError(f"no schema named '{name}'", fix=f"use one of: {', '.join(SCHEMAS)}")
    document = model.model_json_schema()
    document = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"warden:{name}",
        **document,
    }
    echo(json.dumps(document, indent=2))
