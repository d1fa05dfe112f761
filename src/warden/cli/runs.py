"""`warden runs`, `warden findings`, `warden tree`: read-only views of the state directory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from warden.cli._output import console, echo, friendly_errors, plain


def register(app: typer.Typer) -> None:
    app.command("runs")(list_runs)
    app.command("findings")(show_findings)
    app.command("tree")(show_tree)


def _since(value: str | None) -> Any:
    """--since: an ISO date or time, or an age such as 30m, 12h, 7d (a usage error otherwise)."""
    from warden.service.reading import parse_since

    return None if value is None else parse_since(value)


def _parse_time(value: Any) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(value) if isinstance(value, str) else value


def _age(created: Any) -> str:
    from datetime import UTC, datetime

    seconds = max(0, int((datetime.now(UTC).replace(tzinfo=None) - created).total_seconds()))
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _jsonable(rows: list[dict[str, Any]]) -> str:
    return json.dumps(rows, default=str, indent=2)


@friendly_errors
def list_runs(
    status: str | None = typer.Option(None, "--status", help="Only runs with this status."),
    user: str | None = typer.Option(None, "--as", help="Who you are; only your tenants' runs are shown."),
    limit: int | None = typer.Option(None, "--limit", help="At most this many (newest first)."),
    since: str | None = typer.Option(
        None, "--since", help="Only runs created since: a date, or an age (12h, 7d)."
    ),
    policy: Path | None = typer.Option(None, "--policy", "-p"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """List the runs of your tenants, newest first."""
    from rich.table import Table

    from warden.cli._client import remote
    from warden.cli._runtime import open_service, principal

    since_at = _since(since)  # a usage error before any store is opened
    client = remote(user, policy)
    if client is not None:
        params = {"status": status, "limit": limit, "since": since_at}
        rows = client.call("GET", "/api/runs", params={k: str(v) for k, v in params.items() if v is not None})
        for r in rows:
            for key in ("created_at", "finished_at"):
                r[key] = _parse_time(r[key])
    else:
        service = open_service(policy, llm=False)
        rows = service.runs(principal(service, user), status=status, since=since_at, limit=limit)
    from warden.service.reading import RUN_SUMMARY_FIELDS

    rows = [{k: r[k] for k in RUN_SUMMARY_FIELDS} for r in rows]
    if as_json:
        echo(_jsonable(rows))
        return
    table = Table(title="runs (newest first)")
    columns = ("run_id", "status", "tenant", "depth", "document", "requester", "age", "cost_usd")
    for col in columns:
        table.add_column(col, no_wrap=col == "run_id", overflow="fold")
    for r in rows:
        cells = {**r, "age": _age(r["created_at"]), "cost_usd": f"{r['cost_usd']:.4f}"}
        table.add_row(*(plain(cells[c] if cells[c] is not None else "") for c in columns))
    console.print(table)
    console.print(f"{len(rows)} run(s)")


@friendly_errors
def show_findings(
    run_id: str = typer.Argument(..., help="A run; its children's findings are included."),
    user: str | None = typer.Option(None, "--as", help="Who you are; default $WARDEN_USER."),
    policy: Path | None = typer.Option(None, "--policy", "-p"),
    min_severity: str = typer.Option(
        "info", "--min-severity", help="Hide findings below this: info, low, medium, high, critical."
    ),
    category: str | None = typer.Option(
        None, "--category", help="Only this category, e.g. transparency, disclosure, inventory."
    ),
    hide_suppressed: bool = typer.Option(
        False, "--hide-suppressed", help="Leave out findings a triage that still applies suppresses."
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Findings of a run and every run below it, most severe first, with their triage."""
    from rich.table import Table

    from warden.cli._client import remote
    from warden.cli._runtime import open_service, principal

    client = remote(user, policy)
    if client is not None:
        params = {"min_severity": min_severity, **({"category": category} if category else {})}
        if hide_suppressed:
            params["hide_suppressed"] = "true"
        rows = client.call("GET", f"/api/runs/{run_id}/findings", params=params)
    else:
        service = open_service(policy, llm=False)
        rows = service.findings(
            principal(service, user),
            run_id,
            min_severity=min_severity,
            category=category,
            hide_suppressed=hide_suppressed,
        )
    if as_json:
        echo(_jsonable(rows))
        return
    table = Table(title=f"findings of {plain(run_id)}", show_lines=True)
    for col in ("severity", "code", "title", "where", "evidence", "triage"):
        table.add_column(col, overflow="fold")
    for f in rows:
        ev = f["evidence"][0] if f["evidence"] else {}
        where = (
            f["system_id"]
            or ev.get("location")
            or (f"page {ev['page']}" if ev.get("page") else ev.get("passage_id", ""))
        )
        cited = (f.get("details") or {}).get("cited_documents")
        if cited and not f["system_id"] and where:  # a document set: name the passage's document
            where = f"{cited[0]}, {where}"
        cells = (f["severity"], f["code"], f["title"], str(where or ""), _quote(f)[:160], triage_label(f))
        table.add_row(*(plain(c) for c in cells))
    console.print(table)
    hidden = " (suppressed ones hidden)" if hide_suppressed else ""
    console.print(f"{len(rows)} finding(s){hidden}")


def triage_label(f: dict[str, Any]) -> str:
    """ "false_positive by dora@acme", "stale", "reopened" or "" for a finding row."""
    t = f.get("triage")
    if not t:
        return ""
    if t["status"] == "stale":
        return f"triage: stale (was {t['state']})"
    if t["status"] == "reopened":
        return f"reopened (was fixed by {t['who']})"
    return f"{t['state']} by {t['who']}: {t['why']}"


def _quote(f: dict[str, Any]) -> str:
    """The first quote of the evidence, else its location, else the finding's message."""
    for ev in f["evidence"]:
        if ev.get("quote"):
            return str(ev["quote"])
    for ev in f["evidence"]:
        if ev.get("location"):
            return str(ev["location"])
    return str(f["message"])


@friendly_errors
def show_tree(
    run_id: str = typer.Argument(...),
    user: str | None = typer.Option(None, "--as", help="Who you are; default $WARDEN_USER."),
    policy: Path | None = typer.Option(None, "--policy", "-p"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The execution tree: every run with status, cost and timing, and its steps."""
    from rich.tree import Tree

    from warden.cli._runtime import open_service, principal

    service = open_service(policy, llm=False)
    members = service.tree(principal(service, user), run_id)
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
            "steps": m["steps"],
        }
        for m in members
    ]
    if as_json:
        echo(_jsonable(nodes))
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
