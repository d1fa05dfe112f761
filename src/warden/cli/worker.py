"""`warden worker`: a Temporal worker for the state directory ($WARDEN_HOME); run any number."""

from __future__ import annotations

import typer

from warden.cli._output import err_console, friendly_errors, plain


def register(app: typer.Typer) -> None:
    app.command("worker")(worker)


@friendly_errors
def worker(
    concurrency: int = typer.Option(
        1, "--concurrency", min=1, max=16, help="Activities at once (the DuckDB ledger takes one writer)."
    ),
) -> None:
    """Run a Temporal worker: it executes run-tree workflows and their node activities from the
    task queue ($WARDEN_TEMPORAL_ADDRESS, _NAMESPACE, _TASK_QUEUE) against $WARDEN_HOME."""
    from warden.cli._runtime import home_dir
    from warden.graph.temporal.settings import TemporalSettings
    from warden.worker import run

    settings = TemporalSettings.from_env()
    err_console.print(
        plain(
            f"warden worker on {settings.address} ({settings.namespace}/{settings.task_queue}) "
            f"for {home_dir()}"
        )
    )
    run(home_dir(), settings, concurrency=concurrency)
