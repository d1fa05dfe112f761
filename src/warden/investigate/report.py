"""The run report's content, gathered once and rendered as HTML, Markdown or JSON.

Free text an approver or a failing step wrote (comments, reasons, errors) is redacted; the
notice's own passages are quoted as they are, since they are what the findings cite.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any, Literal

from warden.investigate.approvals import approvals_timeline
from warden.investigate.costs import cost_summary
from warden.investigate.evidence import evidence_of, transparency
from warden.investigate.findings import SEVERITIES, findings, severity_by_system
from warden.investigate.source import Source
from warden.investigate.tree import RunNode, execution_tree, step_timings, walk
from warden.redaction import redact_text
from warden.store import reads

__all__ = ["Format", "build_report", "render"]

Format = Literal["html", "md", "json"]


def _clean(text: str | None) -> str | None:
    return redact_text(text) if text else text


def _node(node: RunNode) -> dict[str, Any]:
    data = asdict(node)
    data["status_reason"] = _clean(node.status_reason)
    data["tree_cost_usd"] = node.tree_cost_usd
    for step in data["steps"]:
        step["error"] = _clean(step["error"])
    data["children"] = [_node(c) for c in node.children]
    return data


def build_report(source: Source, run_id: str, *, hide_suppressed: bool = False) -> dict[str, Any]:
    """Everything the report shows, as plain data (datetimes left as datetimes); each finding
    with its triage, those a triage still suppresses left out when `hide_suppressed`."""
    with source.connect() as con:  # one read-only connection for every question below
        run = source.run(run_id)
        tree = execution_tree(source, run_id)
        everything = findings(source, run_id)
        found = [f for f in everything if not (hide_suppressed and f["suppressed"])]
        for f in found:
            f["citations"] = [
                {**asdict(c), "where": c.where, "text": c.text}
                for c in evidence_of(source, run_id, f["finding_id"])
            ]
        documents = reads.documents_of_run(con, run["root_run_id"])
        timeline = approvals_timeline(source, run_id)
        for entry in timeline:
            entry["comment"] = _clean(entry["comment"])
        runs = list(walk(tree))
        by_severity = {s: sum(1 for f in found if f["severity"] == s) for s in SEVERITIES}
        return {
            "title": f"Warden report: {tree.runbook or 'run'} {run_id}",
            "generated_at": datetime.now(UTC).replace(tzinfo=None),
            "summary": {
                "run_id": run_id,
                "root_run_id": run["root_run_id"],
                "tenant": tree.tenant,
                "requester": tree.requester,
                "runbook": tree.runbook,
                "version": tree.approved_version,
                "declared_version": tree.runbook_version,
                "sha256": tree.runbook_sha256,
                "status": tree.status,
                "status_reason": _clean(tree.status_reason),
                "created_at": tree.created_at,
                "finished_at": tree.finished_at,
                "runs": len(runs),
                "steps": sum(len(r.steps) for r in runs),
                "duration_s": sum(r.duration_s for r in runs),
                "cost_usd": tree.tree_cost_usd,
                "findings": len(found),
                "suppressed": sum(1 for f in everything if f["suppressed"]),
                "suppressed_hidden": hide_suppressed,
                "by_severity": {s: n for s, n in by_severity.items() if n},
                "approvers": sorted({e["actor"] for e in timeline if e["event"] in ("approve", "edit")}),
                "documents": documents,
            },
            "findings": found,
            "severity_by_system": severity_by_system(source, run_id),
            "transparency": transparency(source, run_id),
            "tree": _node(tree),
            "step_timings": step_timings(source, run_id),
            "approvals": timeline,
            "costs": cost_summary(source, run_id),
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds") + "Z"
    return str(value)


def render(report: dict[str, Any], fmt: Format) -> str:
    """The report as one self-contained document in `fmt`."""
    if fmt == "json":
        return json.dumps(report, default=_jsonable, indent=2, ensure_ascii=False) + "\n"
    if fmt == "md":
        from warden.investigate.render_md import render_markdown

        return render_markdown(report)
    from warden.investigate.render_html import render_html

    return render_html(report)
