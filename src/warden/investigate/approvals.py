"""The approvals timeline: who was asked, who decided what and when, and what they approved."""

from __future__ import annotations

import json
from typing import Any

from warden.investigate.source import Source
from warden.store import reads

__all__ = ["approvals", "approvals_timeline"]


def approvals(source: Source, run_id: str) -> list[dict[str, Any]]:
    """The approval records of the tree (the publishing record), oldest first."""
    with source.connect() as con:
        source.run(run_id)
        rows = reads.approvals_of_tree(con, run_id)
    for row in rows:
        row["validation"] = json.loads(row.pop("validation_json"))
        model = row.pop("model_json")
        row["model"] = json.loads(model) if model else None
    return rows


def approvals_timeline(source: Source, run_id: str) -> list[dict[str, Any]]:
    """Requests, refusals and decisions of the tree in the order they happened.

    Each entry: at, run_id, event (requested / refused / approve / edit / reject), actor (for a
    request, the person who requested the run, not the engine that asked on their behalf), role,
    runbook, version, sha256, comment, change_summary, waited_s (request to decision).
    """
    with source.connect() as con:
        source.run(run_id)
        events = reads.approval_requests_of_tree(con, run_id)
        runbooks = {r["run_id"]: r["runbook"] for r in reads.runbooks_of_tree(con, run_id)}
        requesters = {r["run_id"]: r["requester"] for r in reads.runs_of_tree(con, run_id)}
        decided = approvals(source, run_id)
    out: list[dict[str, Any]] = []
    requested_at: dict[str, Any] = {}
    for e in events:
        payload = json.loads(e["payload_json"])
        if e["event"] == "approval_requested":
            requested_at.setdefault(e["run_id"], e["at"])
            entry = {
                "event": "requested",
                "role": payload.get("required_role"),
                "sha256": payload.get("runbook_sha256"),
            }
        else:
            entry = {"event": "refused", "comment": payload.get("reason")}
        out.append(
            {
                "at": e["at"],
                "run_id": e["run_id"],
                # the engine writes the request event; who asked is the run's requester
                "actor": requesters.get(e["run_id"]) or e["actor"]
                if entry["event"] == "requested"
                else e["actor"],
                "runbook": runbooks.get(e["run_id"]),
                **entry,
            }
        )
    for a in decided:
        asked = requested_at.get(a["run_id"])
        out.append(
            {
                "at": a["decided_at"],
                "run_id": a["run_id"],
                "actor": a["approver"],
                "runbook": a["runbook"],
                "event": a["decision"],
                "role": a["role"],
                "version": a["runbook_version"],
                "sha256": a["runbook_sha256"],
                "comment": a["comment"],
                "change_summary": a["change_summary"],
                "validation_ok": a["validation_ok"],
                "auto_rule": a["auto_rule"],
                "waited_s": (a["decided_at"] - asked).total_seconds() if asked else None,
            }
        )
    keys = (
        "at",
        "run_id",
        "event",
        "actor",
        "role",
        "runbook",
        "version",
        "sha256",
        "comment",
        "change_summary",
        "validation_ok",
        "auto_rule",
        "waited_s",
    )
    out = [{k: e.get(k) for k in keys} for e in out]
    out.sort(key=lambda e: e["at"])
    return out
