"""`warden cluster up|down`: try the Temporal engine on one machine (all on loopback)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from warden.cli._output import echo, friendly_errors

cluster_app = typer.Typer(
    help="A local Temporal cluster: dev server, workers and the server.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(cluster_app, name="cluster")


def _state(state: Path | None) -> Path:
    from warden.cli._runtime import home_dir

    return (state or home_dir()).expanduser().resolve()


@cluster_app.command("up")
@friendly_errors
def up(
    workers: int = typer.Option(2, "--workers", min=1, max=64, help="How many `warden worker` processes."),
    state: Path | None = typer.Option(None, "--state", help="The state directory (default: $WARDEN_HOME)."),
    policy: Path | None = typer.Option(
        None, "--policy", "-p", help="Initialises an empty state directory (default: $WARDEN_POLICY)."
    ),
    headless: bool = typer.Option(False, "--headless", help="No Temporal Web UI."),
) -> None:
    """Start the Temporal dev server, N workers and `warden serve --engine temporal` in the
    background; print one JSON object (server_url, temporal_address, ui_url, workers, state)."""
    from warden.cli._runtime import presented_policy
    from warden.worker.cluster import up as start

    echo(json.dumps(start(_state(state), workers, policy=presented_policy(policy), headless=headless)))


@cluster_app.command("down")
@friendly_errors
def down(
    state: Path | None = typer.Option(None, "--state", help="The state directory (default: $WARDEN_HOME)."),
) -> None:
    """Stop the processes `warden cluster up` recorded in the state directory."""
    from warden.worker.cluster import down as stop

    echo(json.dumps(stop(_state(state))))
