"""The report as Markdown: the same sections as the HTML page, for tickets and pull requests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from warden.documents.sets import display_name

__all__ = ["render_markdown"]

_SECTIONS = (
    ("Summary", "summary"),
    ("Findings", "findings"),
    ("Transparency", "gdpr-art-1314-transparency"),
    ("Execution tree", "execution-tree"),
    ("Approvals", "approvals"),
    ("Costs", "costs"),
)


def _c(value: Any) -> str:
    """A table cell: no pipes or newlines to break the row."""
    if value is None:
        return "–"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S UTC")
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(headers: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(_c(c) for c in row) + " |" for row in rows]
    return [*out, ""]


def _tree(node: dict[str, Any], depth: int = 0) -> list[str]:
    pad = "  " * depth
    out = [
        f"{pad}- `{node['run_id']}` {node['runbook']} v{_c(node['approved_version'])}: {node['status']}, "
        f"{node['duration_s']:.2f} s, ${node['cost_usd']:.4f}"
    ]
    for s in node["steps"]:
        took = f"{s['duration_s']:.3f} s" if s["duration_s"] is not None else "–"
        out.append(
            f"{pad}  - step {s['step_id']} ({s['analyser'] or 'execute_workflow'}) {s['status']} {took}"
        )
    for child in node["children"]:
        out += _tree(child, depth + 1)
    return out


def render_markdown(report: dict[str, Any]) -> str:
    """Summary, findings with citations, transparency table, tree, approvals and costs."""
    s = report["summary"]
    lines = [f"# {report['title']}", ""]
    lines += ["Contents: " + " · ".join(f"[{name}](#{anchor})" for name, anchor in _SECTIONS), ""]
    by_severity: dict[str, list[dict[str, Any]]] = {}
    for f in report["findings"] or []:
        by_severity.setdefault(f["severity"], []).append(f)
    for severity, group in by_severity.items():  # a plain list per severity: the filter of the page
        lines.append(f"- **{severity}** ({len(group)}): " + "; ".join(f["title"] for f in group))
    lines += ["", "## Summary", ""]
    lines += _table(
        ["", ""],
        [
            ["Run", f"`{s['run_id']}`"],
            ["Tenant", s["tenant"]],
            ["Requested by", s["requester"]],
            ["Runbook", f"{s['runbook']} v{_c(s['version'])} (declares v{_c(s['declared_version'])})"],
            ["Runbook sha256", f"`{s['sha256']}`"],
            ["Status", s["status"]],
            ["Approved by", ", ".join(s["approvers"]) or None],
            ["Documents", ", ".join(d["name"] for d in s["documents"]) or None],
            ["Cost", f"${s['cost_usd']:.4f}"],
            [
                "Findings",
                f"{s['findings']} (" + ", ".join(f"{k}: {n}" for k, n in s["by_severity"].items()) + ")",
            ],
        ],
    )
    lines += ["## Findings", ""]
    for f in report["findings"] or []:
        lines += [
            f"### [{f['severity']}] {f['title']}",
            "",
            f"`{f['code']}` · {_c(f['article'])} · system: {f['system']}",
            "",
        ]
        t = f.get("triage")
        if t:
            status = "" if t["status"] == "applies" else f" ({t['status']})"
            lines += [f"Triage: **{t['state']}**{status} by {t['who']}: {_c(t['why'])}", ""]
        lines += [f["message"], ""]
        for c in f["citations"]:
            text = c.get("text") or c["quote"] or c["passage_text"]
            lines += [f"> {_c(text)}", ">", f"> — {c['where']}", ""]
        if not f["citations"]:
            lines += ["No passage cited: the finding is about what the notice does not say.", ""]
    if not report["findings"]:
        lines += ["No findings.", ""]
    lines += ["## GDPR Art. 13/14 transparency", ""]
    lines += _table(
        ["Item", "Article", "Status", "Severity", "Passages"],
        [
            [
                r["title"],
                r["article"],
                f"deferred to {r['deferred_to']}" if r.get("deferred_to") else r["status"],
                r["severity"],
                ", ".join(
                    f"{display_name(p['document_name'])} {p['passage_id']}"
                    if r.get("document_set") and p.get("document_name")
                    else p["passage_id"]
                    for p in r["passages"]
                ),
            ]
            for r in report["transparency"]
        ],
    )
    lines += ["## Execution tree", "", *_tree(report["tree"]), "", "## Approvals", ""]
    lines += _table(
        ["When", "Run", "Event", "Who", "Role", "Runbook", "Comment / changes"],
        [
            [
                e["at"],
                e["run_id"],
                e["event"],
                e["actor"],
                e["role"],
                f"{e['runbook']}" + (f" v{e['version']}" if e["version"] is not None else ""),
                "; ".join(x for x in (e["comment"], e["change_summary"]) if x),
            ]
            for e in report["approvals"]
        ],
    )
    costs = report["costs"]
    lines += ["## Costs", "", f"Total ${costs['total_usd']:.4f}.", ""]
    if costs["by_step"]:
        lines += _table(
            ["Run", "Step", "Amount"],
            [[r["run_id"], r["step_id"], f"${r['amount_usd']:.4f}"] for r in costs["by_step"]],
        )
    return "\n".join(lines).rstrip() + "\n"
