"""`warden report RUN`: one self-contained report of a run tree, as HTML, Markdown or JSON."""

from __future__ import annotations

from pathlib import Path

import typer

from warden.cli._output import echo, err_console, escape_controls, friendly_errors, plain
from warden.errors import UsageError, WardenError

__all__ = ["FORMATS", "register", "report", "write_output"]

FORMATS = ("html", "md", "json")


def register(app: typer.Typer) -> None:
    """Adds the command to the ``warden`` app."""
    app.command("report")(report)


def write_output(text: str, out: Path | None) -> None:
    """To `out` (its folder must exist; nothing half-written on a bad path), else to stdout."""
    if out is None:
        echo(text, nl=False)
        return
    if out.is_dir():
        raise UsageError(f"{out} is a directory", fix="pass a file name with --out")
    if not out.parent.exists():
        raise UsageError(
            f"folder {out.parent} does not exist", fix="create it first, or choose another --out"
        )
    try:
        _replace_with(out, text)
    except OSError as exc:  # a full disk, a read-only folder: was 'internal error', exit 70
        raise WardenError(
            f"cannot write {out}: {exc.strerror or exc}", fix="choose another --out", code="write_failed"
        ) from None
    err_console.print(f"wrote {plain(out)}")


def _replace_with(out: Path, text: str) -> None:
    """Write a new file beside `out`, then rename it onto `out`: a symlink planted at `out` is
    replaced itself, never written through (the file it points to is left alone), and a failed
    write leaves `out` as it was."""
    import os
    import stat
    import tempfile

    try:
        mode = os.lstat(out).st_mode
    except FileNotFoundError:
        mode = stat.S_IFREG
    if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):  # a device or pipe (/dev/stdout): write to it
        with open(out, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        return
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".partial")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            umask = os.umask(0)
            os.umask(umask)
            os.fchmod(f.fileno(), 0o666 & ~umask)  # as a plain open would create it
            f.write(text)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@friendly_errors
def report(
    run_id: str = typer.Argument(..., help="A run; the runs below it are included."),
    fmt: str = typer.Option("html", "--format", "-f", help="html (one self-contained page), md or json."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write here instead of stdout."),
    user: str | None = typer.Option(None, "--as", help="Reader; must belong to the run's tenant."),
    policy: Path | None = typer.Option(None, "--policy", "-p"),
    hide_suppressed: bool = typer.Option(
        False, "--hide-suppressed", help="Leave out findings a triage that still applies suppresses."
    ),
) -> None:
    """Summary, findings with citations and triage, transparency table, execution tree, approvals and costs.

    Exit 0: written. 1: the store could not be read. 2: usage error (unknown run, bad format).
    """
    from warden.cli._runtime import open_service, principal
    from warden.investigate import Source, build_report, render

    if fmt not in FORMATS:
        raise UsageError(f"unknown report format '{fmt}'", fix=f"use one of: {', '.join(FORMATS)}")
    service = open_service(policy, llm=False)
    service.visible_run(principal(service, user), run_id)
    # visible_run has just read the run from this file, so open_store()'s checks (a DuckDB file
    # holding Warden's tables) would only cost another connection; the report reads over one
    source = Source(service.store.path, store=service.store)
    built = build_report(source, run_id, hide_suppressed=hide_suppressed)
    text = render(built, fmt)  # type: ignore[arg-type]
    if fmt == "md":  # a file is read in a terminal too (`cat report.md`): controls as \uXXXX
        text = escape_controls(text)
    write_output(text, out)
