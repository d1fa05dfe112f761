"""The ``warden`` command. Each sub-command lives in its own module with a ``register(app)``.

`warden --help` must start fast (target: under 0.3 s), so nothing heavy is imported here:
command modules import only typer at the top and import LangGraph, DuckDB, pypdf and rich
inside the command functions; the consoles in ``_output`` build rich on first use; help is
rendered by click's plain formatter instead of rich's. To add a command, add its module's
name to ``COMMAND_MODULES``.
"""

from __future__ import annotations

from importlib import import_module

import typer

__all__ = ["COMMAND_MODULES", "app", "main"]

COMMAND_MODULES: tuple[str, ...] = (
    "schema",
    "validate",
    "extract",
    "analyse",
    "approvals",
    "runs",
    "triage",
    "ropa",
    "report",
    "audit",
    "ledger",
    "replay",
    "policy",
    "doctor",
    "users",
    "serve",
    "worker",
    "cluster",
)
"""Modules under ``warden.cli`` whose ``register(app)`` adds their commands, in help order."""

app = typer.Typer(
    name="warden",
    help="Governed, agentic compliance analyser: privacy notices in, approved runbooks and findings out.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # rich-rendered help costs ~0.15 s of imports on every --help
)

for _name in COMMAND_MODULES:
    import_module(f"warden.cli.{_name}").register(app)


def main() -> None:
    """Console entry point."""
    app()
