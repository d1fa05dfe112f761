"""`warden replay RUN`: re-execute a recorded run tree from its recorded model responses.

No network: every model call is answered from the ``llm_calls`` table. Approvals are decided
as they were recorded (see :mod:`warden.service.replay`). Exit 0 when the replay ends like the
original with byte-identical findings; 1 when it differs or cannot finish.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from warden.cli._output import EXIT_FAIL, EXIT_OK, console, echo, friendly_errors, plain

__all__ = ["register", "replay"]


def register(app: typer.Typer) -> None:
    """Adds the command to the ``warden`` app."""
    app.command("replay")(replay)


@friendly_errors
def replay(
    run_id: str = typer.Argument(..., help="Any run of the recorded tree."),
    user: str | None = typer.Option(None, "--as", help="Who you are; default $WARDEN_USER."),
    keep: bool = typer.Option(False, "--keep", help="Keep the scratch state directory and print it."),
    policy: Path | None = typer.Option(
        None, "--policy", "-p", help="Governance policy (default: $WARDEN_POLICY)."
    ),
    as_json: bool = typer.Option(False, "--json", help="One JSON object."),
) -> None:
    """Replay a run tree from its recorded model responses, in a scratch state directory that
    never enters the real approval queue, and compare the findings."""
    from warden.cli._runtime import open_service, principal
    from warden.service.replay import replay_run

    service = open_service(policy)
    result = replay_run(service, principal(service, user), run_id, keep=keep)
    reason = result.reason
    summary = {
        "run_id": result.outcome.root_run_id,
        "replay_of": result.original_root,
        "status": result.outcome.status,
        "original_status": result.original_status,
        "reason": reason,
        "findings_identical": result.original_findings == result.replay_findings,
        "identical": result.identical,
        "findings": len(json.loads(result.replay_findings)),
        "decisions": result.decisions,
        "unplayed_calls": result.unplayed_calls,
        "scratch": str(result.scratch) if result.scratch else None,
        "waiting": [w["run_id"] for w in result.outcome.waiting],
    }
    if as_json:
        echo(json.dumps(summary))
    else:
        console.print(
            f"replay [bold]{summary['run_id']}[/] of {summary['replay_of']}: {summary['status']} "
            f"(original: {summary['original_status']})"
        )
        if reason and summary["status"] != "completed":
            console.print(f"  reason: {plain(reason)}")
        for d in result.decisions:
            console.print(plain(f"  {d['decision']} {d['run_id']} as {d['approver']} (as recorded)"))
        for w in (w["run_id"] for w in result.outcome.waiting):
            console.print(f"  waiting for approval: {w} (the recording has no decision for it)")
        verdict = "identical to" if summary["findings_identical"] else "DIFFERENT from"
        console.print(f"  {summary['findings']} finding(s), byte for byte {verdict} the recorded run")
    raise typer.Exit(EXIT_OK if result.identical else EXIT_FAIL)
