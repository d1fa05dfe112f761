"""Shared CLI plumbing: consoles, exit codes, and turning errors into messages."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console

from warden.errors import UsageError, WardenError

__all__ = [
    "EXIT_FAIL",
    "EXIT_OK",
    "EXIT_USAGE",
    "console",
    "emit_error",
    "err_console",
    "friendly_errors",
]

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
EXIT_INTERNAL = 70

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

F = TypeVar("F", bound=Callable[..., Any])


def emit_error(error: WardenError) -> None:
    """One clear message on stderr: what, where, and the fix."""
    err_console.print(f"[bold red]error[/] [dim]({error.code})[/]: {error.message}", markup=True)
    if error.fix:
        err_console.print(f"  [bold]fix[/]: {error.fix}", markup=True)


def friendly_errors(func: F) -> F:
    """Run a command, turning WardenError into exit 2 (usage) or 1, and bugs into exit 70."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort, KeyboardInterrupt, SystemExit):
            raise
        except UsageError as exc:
            emit_error(exc)
            raise typer.Exit(EXIT_USAGE) from None
        except WardenError as exc:
            emit_error(exc)
            raise typer.Exit(EXIT_FAIL) from None
        except Exception as exc:  # a bug: say so plainly; the traceback only on request
            if os.environ.get("WARDEN_DEBUG"):
                raise
            err_console.print(
                f"[bold red]internal error[/]: {type(exc).__name__}: {exc}\n"
                "  this is a bug in Warden; rerun with WARDEN_DEBUG=1 for the traceback and report it",
                markup=True,
            )
            sys.stderr.flush()
            raise typer.Exit(EXIT_INTERNAL) from None

    return wrapper  # type: ignore[return-value]
