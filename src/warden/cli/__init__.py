"""The ``warden`` command. Each sub-command lives in its own module with a ``register(app)``.

Heavy modules (LangGraph, DuckDB, pypdf) are imported inside the commands that need them so
that ``warden --help`` starts fast.
"""

from __future__ import annotations

import typer

from warden.cli import analyse, approvals, doctor, extract, replay, runs, schema, validate

__all__ = ["app", "main"]

app = typer.Typer(
    name="warden",
    help="Governed, agentic compliance analyser: privacy notices in, approved runbooks and findings out.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for _module in (schema, validate, extract, analyse, approvals, runs, replay, doctor):
    _module.register(app)


def main() -> None:
    """Console entry point."""
    app()
