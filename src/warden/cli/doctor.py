"""`warden doctor`: which mode is active, with which model and endpoint, and does it answer; which
execution engine runs the analyses and which store records them, and do they answer."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from warden.cli._output import EXIT_FAIL, EXIT_OK, console, echo, friendly_errors, plain

__all__ = ["doctor", "register"]


def register(app: typer.Typer) -> None:
    """Adds the command to the ``warden`` app."""
    app.command("doctor")(doctor)


@friendly_errors
def doctor(
    config: Path | None = typer.Option(
        None, "--config", help="Config file (default: $WARDEN_CONFIG, else $WARDEN_HOME/config.yaml)."
    ),
    policy: Path | None = typer.Option(
        None, "--policy", "-p", help="Also say which tenants may use the model (default: $WARDEN_POLICY)."
    ),
    check: bool = typer.Option(True, "--check/--no-check", help="Make a real request to the endpoint."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object."),
) -> None:
    """Show the LLM configuration (key redacted) and the execution engine ($WARDEN_ENGINE) with
    its store, and check that the endpoint, the engine and the store answer.

    Exit 0: all that was checked answered. 1: a check failed. 2: bad configuration.
    """
    import os

    from warden.cli._runtime import home_dir
    from warden.credentials import scrub_data
    from warden.governance import POLICY_ENV, load_policy
    from warden.llm.config import load_settings
    from warden.llm.doctor import check_endpoint, describe
    from warden.service.engines import engine_report

    settings = load_settings(config)
    report = describe(settings)
    policy_path = policy or (Path(os.environ[POLICY_ENV]) if os.environ.get(POLICY_ENV) else None)
    if policy_path is not None and settings.model:
        loaded = load_policy(policy_path)
        report["tenants"] = {name: settings.model in t.models for name, t in loaded.policy.tenants.items()}
    result = check_endpoint(settings) if check and settings.model else None
    if result is not None:
        report["check"] = {"ok": result.ok, "detail": result.detail, "code": result.code, "fix": result.fix}
    report["engine"] = engine_report(home_dir(), check=check)
    failed = (result is not None and not result.ok) or not report["engine"]["ok"]
    failed = failed or not report["engine"]["store"]["ok"]
    # masked once for both outputs; the key is already shown as `sk-…abcd` (redacted_key)
    report = {k: v if k == "api_key" else scrub_data(v) for k, v in report.items()}
    if as_json:
        echo(json.dumps(report))
    else:
        _print(report)
    raise typer.Exit(EXIT_FAIL if failed else EXIT_OK)


def _print(report: dict) -> None:  # type: ignore[type-arg]
    _print_llm(report)
    _print_engine(report["engine"])


def _print_engine(engine: dict) -> None:  # type: ignore[type-arg]
    where = engine.get("address") or engine.get("checkpoints") or ""
    console.print(f"engine: [bold]{plain(engine['name'])}[/] {plain(where)}".rstrip())
    if engine.get("task_queue"):
        console.print(f"  namespace {plain(engine['namespace'])}, task queue {plain(engine['task_queue'])}")
    for label, part in (("check", engine), ("store", engine["store"])):
        prefix = (
            f"  {label}:    "
            if label == "check"
            else f"  {label}:    {plain(part.get('ledger', 'duckdb'))} {plain(part['path'])}: "
        )
        if part["ok"]:
            console.print(f"{prefix}[green]ok[/]: {plain(part['detail'])}")
        else:
            console.print(f"{prefix}[red]failed[/] ({part['code']}): {plain(part['detail'])}")
            if part.get("fix"):
                console.print(f"  fix:      {plain(part['fix'])}")
    if "beats" in engine["store"]:
        _print_beats(engine["store"]["beats"])


def _print_beats(beats: list[dict] | None) -> None:  # type: ignore[type-arg]
    """The processes that beat on a shared ledger, alive or silent (service/liveness.py)."""
    if beats is None:
        console.print("  hosts:    nothing beats on the DuckDB ledger (one host: its pids and driver leases)")
        return
    if not beats:
        console.print("  hosts:    no process beats on the ledger now (no live Warden process of any host)")
        return
    console.print(f"  hosts:    {len(beats)} process(es) beat on the ledger:")
    for b in beats:
        state = "[green]alive[/]" if b["alive"] else "[red]silent[/]"
        console.print(
            f"    {plain(b['host'])} ({plain(b['hostname'])}) {plain(b['process'])} {plain(b['kind'])}: "
            f"last seen {max(b['age_s'], 0):.1f} s ago ({b['last_seen']} UTC), {state} "
            f"(window {b['window_s']:g} s)"
        )


def _print_llm(report: dict) -> None:  # type: ignore[type-arg]
    if report["mode"] == "offline":
        console.print("mode: [bold]offline[/] (no model configured; everything runs on rules)")
        console.print("  to plan with a model: set WARDEN_LLM_MODEL, and OPENAI_BASE_URL for a local server")
        console.print(f"  config: {plain(report['config'])}")
        return
    price = report["price_usd_per_1m"]
    console.print(f"mode: [bold]llm[/] (planner: {report['planner']})")
    console.print(f"  model:    {plain(report['model'])}")
    console.print(f"  base url: {plain(report['base_url'])}")
    console.print(f"  api key:  {plain(report['api_key'] or 'not set')}")
    console.print(
        f"  limits:   timeout {report['timeout_s']:g}s, {report['max_retries']} retries, "
        f"{report['max_output_tokens']} output tokens, {report['structured_output']}"
    )
    console.print(
        f"  price:    ${price['input']:g} in / ${price['output']:g} out per 1M tokens "
        f"(table entry '{plain(price['table_entry'])}')"
    )
    console.print(f"  config:   {plain(report['config'])}")
    for tenant, allowed in report.get("tenants", {}).items():
        console.print(
            f"  tenant {tenant}: {'may use' if allowed else 'may NOT use'} this model (policy `models`)"
        )
    check = report.get("check")
    if check is None:
        return
    if check["ok"]:
        console.print(f"  check:    [green]ok[/]: {plain(check['detail'])}")
    else:
        console.print(f"  check:    [red]failed[/] ({check['code']}): {plain(check['detail'])}")
        if check["fix"]:
            console.print(f"  fix:      {plain(check['fix'])}")
