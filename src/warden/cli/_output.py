"""Shared CLI plumbing: consoles, exit codes, and turning errors into messages."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from warden.credentials import scrub
from warden.errors import UsageError, WardenError

if TYPE_CHECKING:
    from rich.console import Console

__all__ = [
    "EXIT_FAIL",
    "EXIT_OK",
    "EXIT_USAGE",
    "console",
    "emit_error",
    "err_console",
    "friendly_errors",
    "plain",
]

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
EXIT_INTERNAL = 70


class _LazyConsole:
    """A rich Console built on first use: importing rich costs ~0.1 s, which `warden --help`
    and commands that print plain JSON should not pay."""

    def __init__(self, *, stderr: bool) -> None:
        self._stderr = stderr
        self._console: Console | None = None

    def _get(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=self._stderr, highlight=False, soft_wrap=True)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self._get(), name)


console: Console = _LazyConsole(stderr=False)  # type: ignore[assignment]
err_console: Console = _LazyConsole(stderr=True)  # type: ignore[assignment]

F = TypeVar("F", bound=Callable[..., Any])


def plain(text: object) -> str:
    """`text` escaped for rich markup: messages quote file names, keys and values from hostile
    input, and a '[/]' among them made rich raise instead of printing the error."""
    from rich.markup import escape

    return escape(str(text))


def emit_error(error: WardenError) -> None:
    """One clear message on stderr: what, where, and the fix (credentials masked)."""
    err_console.print(
        f"[bold red]error[/] [dim]({plain(error.code)})[/]: {plain(scrub(error.message))}", markup=True
    )
    if error.fix:
        err_console.print(f"  [bold]fix[/]: {plain(scrub(error.fix))}", markup=True)


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
                f"[bold red]internal error[/]: {type(exc).__name__}: {plain(scrub(str(exc)))}\n"
                "  this is a bug in Warden; rerun with WARDEN_DEBUG=1 for the traceback and report it",
                markup=True,
            )
            sys.stderr.flush()
            raise typer.Exit(EXIT_INTERNAL) from None

    return wrapper  # type: ignore[return-value]
