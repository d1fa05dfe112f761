"""`warden audit RUN`: the run tree's audit trail, in order, redacted, as JSON lines or CSV.
`warden audit verify [RUN]`: recompute the tenant hash chains and name the first problem."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import typer

from warden.cli._output import EXIT_FAIL, echo, friendly_errors
from warden.errors import UsageError

__all__ = ["FORMATS", "VERIFY", "audit", "register"]

FORMATS = ("jsonl", "csv")
VERIFY = "verify"
"""The first argument that makes `warden audit` verify instead of export (run ids are hex)."""


def register(app: typer.Typer) -> None:
    """Adds the command to the ``warden`` app."""
    app.command("audit")(audit)


@friendly_errors
def audit(
    run_id: str = typer.Argument(
        ..., metavar="RUN | verify", help="A run (the runs below it are included), or `verify`."
    ),
    verify_run: str | None = typer.Argument(
        None, metavar="[RUN]", help="With `verify`: the run tree to report on (default: all your tenants)."
    ),
    fmt: str = typer.Option("jsonl", "--format", "-f", help="jsonl (one event per line) or csv."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write here instead of stdout."),
    user: str | None = typer.Option(None, "--as", help="Auditor; must belong to the run's tenant."),
    policy: Path | None = typer.Option(None, "--policy", "-p"),
    head: str | None = typer.Option(
        None,
        "--head",
        help="With `verify`: a head recorded earlier (CHAIN_NO:HASH); it must still be in the chain.",
    ),
    as_json: bool = typer.Option(False, "--json", help="With `verify`: the reports as JSON."),
) -> None:
    """Every audit event of the run tree with actor, time and payload; secrets and personal data redacted.

    The events say which runbook version ran, for which tenant, with which model configuration,
    which analysers ran, who approved, which guard checks passed and what changed since the
    previous version; each carries its link in the tenant's hash chain (docs/AUDIT.md).
    Exit 0: written. 1: the store could not be read. 2: usage error.

    `warden audit verify [RUN] --as USER [--head CHAIN_NO:HASH] [--json]` recomputes the hash
    chain of RUN's tenant (without RUN: of every tenant USER belongs to) and names the first
    edited, deleted, inserted or reordered event. Exit 0: intact (prints the events checked and
    the head to keep elsewhere). 1: a problem, named. 2: usage error.
    """
    if run_id == VERIFY:
        if fmt != "jsonl" or out is not None:
            raise UsageError("`warden audit verify` takes no --format or --out", fix="drop them")
        _verify(verify_run, user, policy, head, as_json)
        return
    if verify_run is not None:
        raise UsageError(f"unexpected argument '{verify_run}'", fix="pass one run: `warden audit RUN`")
    if head is not None or as_json:
        raise UsageError("--head and --json go with `warden audit verify`", fix="drop them, or verify")
    _export(run_id, fmt, out, user, policy)


def _export(run_id: str, fmt: str, out: Path | None, user: str | None, policy: Path | None) -> None:
    from warden.cli._runtime import open_service, principal
    from warden.cli.report import write_output
    from warden.investigate import Source, export_records, write_csv, write_jsonl

    if fmt not in FORMATS:
        raise UsageError(f"unknown audit format '{fmt}'", fix=f"use one of: {', '.join(FORMATS)}")
    service = open_service(policy, llm=False)
    service.visible_run(principal(service, user), run_id)
    records = export_records(Source(service.store.path, store=service.store), run_id)
    buffer = io.StringIO()
    (write_jsonl if fmt == "jsonl" else write_csv)(records, buffer)
    write_output(buffer.getvalue(), out)


def _verify(
    run_id: str | None, user: str | None, policy: Path | None, head: str | None, as_json: bool
) -> None:
    from warden.cli._runtime import open_service, principal

    if head is not None and not _is_anchor(head):
        raise UsageError(
            f"--head '{head}' is not CHAIN_NO:HASH", fix="pass the head `warden audit verify` printed"
        )
    service = open_service(policy, llm=False)
    reports = service.verify_audit(principal(service, user), run_id, head=head)
    if as_json:
        echo(json.dumps([r.as_dict() for r in reports], indent=2))
    else:
        for report in reports:
            echo(_report_text(report))
    if not all(r.ok for r in reports):
        raise typer.Exit(EXIT_FAIL)


def _is_anchor(text: str) -> bool:
    no, _, digest = text.strip().rpartition(":")
    return (
        (no == "" or no.isdigit())
        and len(digest) == 64
        and all(c in "0123456789abcdefABCDEF" for c in digest)
    )


def _report_text(report: Any) -> str:
    """One report as the text `warden audit verify` prints."""
    legacy = f", {report.legacy} unchained legacy event(s) before it" if report.legacy else ""
    tree = f" ({report.run_events} of run tree {report.root_run_id})" if report.root_run_id else ""
    if report.ok:
        return (
            f"tenant {report.tenant}: intact, {report.checked} event(s) checked{tree}{legacy}\n"
            f"  head {report.head}\n"
            "  keep the head outside this machine; `--head` checks it later"
        )
    p = report.problem
    where = f"seq {_or_dash(p.seq)}, chain_no {_or_dash(p.chain_no)}"
    what = f"event {p.event or '-'}, run {p.run_id or '-'}"
    touches = {True: "it is an event of", False: "it is not an event of", None: "it may concern"}
    tree_note = (
        f"\n  {touches[report.touches_run]} run tree {report.root_run_id}" if report.root_run_id else ""
    )
    return (
        f"tenant {report.tenant}: NOT INTACT, first problem: {p.kind.upper()} at {where} ({what})\n"
        f"  {p.detail}{tree_note}\n"
        f"  {report.checked} event(s) checked{legacy}; stored head {report.head}"
    )


def _or_dash(value: object) -> str:
    return "-" if value is None else str(value)
