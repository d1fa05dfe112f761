"""The report as Markdown: the same sections as the HTML page, for tickets and pull requests.

Every value that comes from outside Warden (notice text and headings, finding titles, triage
reasons, comments, names) goes through :func:`_c`, which keeps it text: a line break or a
control character in it cannot start a heading or a table row (CommonMark ends a line at a
lone CR too), and a `<img onerror>` or `[x](javascript:...)` in it is not HTML or a link to
a viewer that renders both. Markdown Warden writes itself is wrapped in :class:`_Md`.
"""

from __future__ import annotations

import re
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


_BREAKS = re.compile("\r\n|[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
"""Everything a Markdown viewer (or Python's splitlines) may take for the end of a line."""

_CONTROLS = re.compile("[\x00-\x08\x0e-\x1b\x1f\x7f-\x84\x86-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
"""Controls a terminal acts on (ESC), bidi overrides and lone surrogates: shown as ``\\uXXXX``."""

_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_SIGNIFICANT = re.compile(r"[&<>]|[\\`*|~]|\](?=[(\[:])|(?<=\])[(\[:]|^[-+#]|(?<=^\d)[.)]|(?<=^\d\d)[.)]")
"""HTML's specials become entities (a backslash before `<` still leaves the text `<img`);
Markdown's punctuation is backslash-escaped: code, emphasis, cells, a heading or list marker
the value starts with (a message or a quote starts a line), and of brackets the `](`, `][`
and `]:` that make a link, an image or a link definition (a lone `[redacted:email]` stays
as it is). `_` stays: it is in every `table.column`, and inside a word it is not emphasis."""


class _Md(str):
    """Markdown Warden writes itself (a code span of an id): :func:`_c` leaves it as it is."""


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    return _ENTITIES.get(char) or "\\" + char


def _c(value: Any) -> str:
    """An untrusted value as Markdown text, fit for a table cell or the middle of a line: one
    line, no control characters, no markup."""
    if value is None:
        return "–"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S UTC")
    if isinstance(value, _Md):
        return str(value)
    # leading blanks dropped: up to three spaces before a '#' still make a heading
    text = _SIGNIFICANT.sub(_escape, _BREAKS.sub(" ", str(value)).lstrip(" \t"))
    return _CONTROLS.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _table(headers: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(_c(c) for c in row) + " |" for row in rows]
    return [*out, ""]


def _tree(node: dict[str, Any], depth: int = 0) -> list[str]:
    pad = "  " * depth
    out = [
        f"{pad}- `{node['run_id']}` {_c(node['runbook'])} v{_c(node['approved_version'])}: "
        f"{_c(node['status'])}, "
        f"{node['duration_s']:.2f} s, ${node['cost_usd']:.4f}"
    ]
    for s in node["steps"]:
        took = f"{s['duration_s']:.3f} s" if s["duration_s"] is not None else "–"
        out.append(
            f"{pad}  - step {_c(s['step_id'])} ({_c(s['analyser'] or 'execute_workflow')}) "
            f"{_c(s['status'])} {took}"
        )
    for child in node["children"]:
        out += _tree(child, depth + 1)
    return out


def render_markdown(report: dict[str, Any]) -> str:
    """Summary, findings with citations, transparency table, tree, approvals and costs."""
    s = report["summary"]
    lines = [f"# {_c(report['title'])}", ""]
    lines += ["Contents: " + " · ".join(f"[{name}](#{anchor})" for name, anchor in _SECTIONS), ""]
    by_severity: dict[str, list[dict[str, Any]]] = {}
    for f in report["findings"] or []:
        by_severity.setdefault(f["severity"], []).append(f)
    for severity, group in by_severity.items():  # a plain list per severity: the filter of the page
        lines.append(f"- **{_c(severity)}** ({len(group)}): " + "; ".join(_c(f["title"]) for f in group))
    lines += ["", "## Summary", ""]
    lines += _table(
        ["", ""],
        [
            ["Run", _Md(f"`{s['run_id']}`")],
            ["Tenant", s["tenant"]],
            ["Requested by", s["requester"]],
            ["Runbook", f"{s['runbook']} v{_c(s['version'])} (declares v{_c(s['declared_version'])})"],
            ["Runbook sha256", _Md(f"`{s['sha256']}`")],
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
            f"### [{_c(f['severity'])}] {_c(f['title'])}",
            "",
            f"`{f['code']}` · {_c(f['article'])} · system: {_c(f['system'])}",
            "",
        ]
        t = f.get("triage")
        if t:
            status = "" if t["status"] == "applies" else f" ({_c(t['status'])})"
            lines += [f"Triage: **{_c(t['state'])}**{status} by {_c(t['who'])}: {_c(t['why'])}", ""]
        lines += [_c(f["message"]), ""]
        for c in f["citations"]:
            text = c.get("text") or c["quote"] or c["passage_text"]
            lines += [f"> {_c(text)}", ">", f"> — {_c(c['where'])}", ""]
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
