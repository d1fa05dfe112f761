"""Shared CLI plumbing: consoles, exit codes, and turning errors into messages."""

from __future__ import annotations

import functools
import os
import re
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from warden.credentials import scrub
from warden.errors import UsageError, WardenError

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, ConsoleRenderable, RenderResult

__all__ = [
    "EXIT_FAIL",
    "EXIT_OK",
    "EXIT_USAGE",
    "console",
    "echo",
    "emit_error",
    "err_console",
    "escape_controls",
    "friendly_errors",
    "plain",
]

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
EXIT_INTERNAL = 70
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
"""What a terminal would act on rather than show (ESC starts title, clear-screen and clipboard
sequences; C1 controls are 8-bit forms of them), the bidirectional embeddings, overrides and
isolates, which make a line read differently from what is stored (a model-written step
description an approver reviews), and lone surrogates, which cannot be written."""


def escape_controls(text: str) -> str:
    """`text` with each control character written as a visible `\\uXXXX` (also a valid JSON
    escape, so JSON output stays JSON); tab and newline stay, multi-line text prints as before."""
    if _CONTROLS.search(text) is None:
        return text
    return _CONTROLS.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def echo(text: str, *, nl: bool = True, err: bool = False) -> None:
    """`typer.echo` of text that may quote documents, names or scanned values: controls escaped."""
    typer.echo(escape_controls(text), nl=nl, err=err)


class _Escaped:
    """A renderable whose text segments are printed with controls escaped; rich's own styling
    (its control segments and styles) is untouched."""

    def __init__(self, inner: ConsoleRenderable) -> None:
        self.inner = inner

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from rich.segment import Segment

        for segment in console.render(self.inner, options):
            if segment.control or _CONTROLS.search(segment.text) is None:
                yield segment
            else:
                yield Segment(escape_controls(segment.text), segment.style)


def _escaping_hook() -> Any:
    """A render hook escaping everything a console prints: tables, trees and messages all quote
    hostile text, and one place is harder to forget than every call."""
    from rich.console import RenderHook

    class EscapeControls(RenderHook):
        def process_renderables(self, renderables: list[ConsoleRenderable]) -> list[ConsoleRenderable]:
            return [_Escaped(r) for r in renderables]

    return EscapeControls()


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
            self._console.push_render_hook(_escaping_hook())
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


_SURROGATE = re.compile("[\ud800-\udfff]")


def _check_text_arguments(values: dict[str, Any]) -> None:
    """Refuse a text argument (an id, a reason, a name) that is not UTF-8: Linux hands a program
    bytes, Python keeps the undecodable ones as lone surrogates, and no ledger can store or
    look those up (DuckDB raised, exit 70). File paths are `Path`s and not checked: a file
    name may be any bytes."""
    for name, value in values.items():
        texts = value if isinstance(value, list | tuple) else [value]
        if any(isinstance(t, str) and _SURROGATE.search(t) for t in texts):
            raise UsageError(
                f"the value of {name.replace('_', '-')} is not UTF-8 text",
                fix="pass it as UTF-8 (ids, names and reasons are text; check the terminal's encoding)",
                code="not_utf8",
            )


def friendly_errors(func: F) -> F:
    """Run a command, turning WardenError into exit 2 (usage) or 1, and bugs into exit 70;
    a text argument that is not UTF-8 is a usage error before the command runs."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            _check_text_arguments(kwargs)
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
