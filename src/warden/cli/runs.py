"""`warden runs`, `warden findings`, `warden tree`: read-only views of the state directory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from warden.cli._output import console, friendly_errors, plain
from warden.errors import UsageError

SEVERITIES = ("info", "low", "medium", "high", "critical")


def register(app: typer.Typer) -> None:
    app.command("runs")(list_runs)
    app.command("findings")(show_findings)
    app.command("tree")(show_tree)


def _store():  # type: ignore[no-untyped-def]
    from warden.cli._runtime import home_dir
    from warden.store import Store

    return Store(home_dir() / "warden.duckdb")


def _visible(rows: list[dict[str, Any]], user: str | None, policy: Path | None) -> list[dict[str, Any]]:
    if user is None:
        return rows
    from warden.cli._runtime import user_tenants

    tenants = user_tenants(policy, user)
    return [r for r in rows if r["tenant"] in tenants]


def _run_or_fail(run_id: str, user: str | None, policy: Path | None) -> dict[str, Any]:
    from warden.store import runs

    with _store().connect(read_only=True) as con:
        row = runs.get_run(con, run_id)
    if row is None or not _visible([row], user, policy):
        raise UsageError(
            f"no run '{run_id}'" + (f" visible to '{user}'" if user else ""),
            fix="list runs with `warden runs`",
            code="unknown_run",
        )
    return row


def _jsonable(rows: list[dict[str, Any]]) -> str:
    return json.dumps(rows, default=str, indent=2)


@friendly_errors
def list_runs(
    status: str | None = typer.Option(None, "--status", help="Only runs with this status."),
    user: str | None = typer.Option(None, "--as", help="Only runs of this user's tenants."),
    policy: Path | None = typer.Option(None, "--policy", "-p"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """List runs, oldest first."""
    from rich.table import Table

    from warden.store import runs

    with _store().connect(read_only=True) as con:
        rows = _visible(runs.list_runs(con, status=status), user, policy)
    keys = (
        "run_id",
        "status",
        "tenant",
        "depth",
        "parent_run_id",
        "root_run_id",
        "runbook",
        "runbook_version",
        "runbook_sha256",
        "cost_usd",
        "duration_s",
        "requester",
        "created_at",
        "finished_at",
        "status_reason",
    )
    rows = [{k: r[k] for k in keys} for r in rows]
    if as_json:
        typer.echo(_jsonable(rows))
        return
    table = Table(title="runs")
    for col in ("run_id", "status", "tenant", "depth", "runbook", "cost_usd", "created_at"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            *(
                plain(r[c])
                for c in ("run_id", "status", "tenant", "depth", "runbook", "cost_usd", "created_at")
            )
        )
    console.print(table)


@friendly_errors
def show_findings(
    run_id: str = typer.Argument(..., help="A run; its children's findings are included."),
    user: str | None = typer.Option(None, "--as"),
    policy: Path | None = typer.Option(None, "--policy", "-p"),
    min_severity: str = typer.Option(
        "info", "--min-severity", help="Hide findings below this: info, low, medium, high, critical."
    ),
    category: str | None = typer.Option(
        None, "--category", help="Only this category, e.g. transparency, disclosure, inventory."
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Findings of a run and every run below it, most severe first."""
    from rich.table import Table

    from warden.store import findings

    if min_severity not in SEVERITIES:
        raise UsageError(f"unknown severity '{min_severity}'", fix=f"use one of: {', '.join(SEVERITIES)}")
    _run_or_fail(run_id, user, policy)
    with _store().connect(read_only=True) as con:
        rows = findings.findings_of(con, run_id)
    floor = SEVERITIES.index(min_severity)
    rows = [
        f
        for f in rows
        if SEVERITIES.index(f["severity"]) >= floor and (category is None or f["category"] == category)
    ]
    if as_json:
        typer.echo(_jsonable(rows))
        return
    table = Table(title=f"findings of {plain(run_id)}", show_lines=True)
    for col in ("severity", "code", "title", "where", "evidence"):
        table.add_column(col, overflow="fold")
    for f in rows:
        ev = f["evidence"][0] if f["evidence"] else {}
        where = f["system_id"] or (f"page {ev['page']}" if ev.get("page") else ev.get("passage_id", ""))
        cells = (f["severity"], f["code"], f["title"], str(where or ""), (ev.get("quote") or "")[:160])
        table.add_row(*(plain(c) for c in cells))
    console.print(table)
    console.print(f"{len(rows)} finding(s)")


@friendly_errors
def show_tree(
    run_id: str = typer.Argument(...),
    user: str | None = typer.Option(None, "--as"),
    policy: Path | None = typer.Option(None, "--policy", "-p"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The execution tree: every run with status, cost and timing, and its steps."""
    from rich.tree import Tree

    from warden.store import runs, steps

    row = _run_or_fail(run_id, user, policy)
    with _store().connect(read_only=True) as con:
        members = runs.tree(con, row["root_run_id"])
        step_rows = {m["run_id"]: steps.steps_of(con, m["run_id"]) for m in members}
    nodes = [
        {
            **{
                k: m[k]
                for k in (
                    "run_id",
                    "parent_run_id",
                    "depth",
                    "status",
                    "runbook",
                    "cost_usd",
                    "duration_s",
                    "created_at",
                    "finished_at",
                )
            },
            "steps": step_rows[m["run_id"]],
        }
        for m in members
    ]
    if as_json:
        typer.echo(_jsonable(nodes))
        return
    by_parent: dict[str | None, list[dict[str, Any]]] = {}
    for n in nodes:
        by_parent.setdefault(n["parent_run_id"], []).append(n)

    def label(n: dict[str, Any]) -> str:
        money = f"${n['cost_usd']:.4f} {n['duration_s']:.2f}s"
        return f"[bold]{n['run_id']}[/] {n['runbook']} \\[{n['status']}] {money}"

    def add(branch: Tree, n: dict[str, Any]) -> None:
        for s in n["steps"]:
            took = f"{s['duration_s']:.3f}s" if s["duration_s"] is not None else "-"
            branch.add(f"step {s['step_id']} ({s['analyser'] or 'execute_workflow'}) {s['status']} {took}")
        for child in by_parent.get(n["run_id"], []):
            add(branch.add(label(child)), child)

    root = next(n for n in nodes if n["parent_run_id"] is None)
    tree = Tree(label(root))
    add(tree, root)
    console.print(tree)
