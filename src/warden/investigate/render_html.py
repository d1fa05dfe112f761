"""The report as ONE HTML file: inline CSS, charts as inline SVG, no scripts, fonts or links out.

Every value is escaped, so a runbook or finding title cannot inject markup into the page.
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Any

from warden.investigate.charts import SEVERITY_COLOURS, severity_chart_svg, timings_chart_svg

__all__ = ["render_html"]

_NO_CITATION = '<p class="muted">No passage cited: the finding is about what the notice does not say.</p>'
_SVG_NS = ' xmlns="http://www.w3.org/2000/svg"'

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:72rem;
 padding:0 1rem;color:#111827;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.2rem}
h2{margin-top:2.2rem;border-bottom:1px solid #e5e7eb;padding-bottom:.3rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0;font-size:.92rem}
th,td{border:1px solid #e5e7eb;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f9fafb}code,.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.85em}
.sev{display:inline-block;padding:0 .45rem;border-radius:.6rem;color:#fff;font-size:.8rem;font-weight:600}
.finding{border:1px solid #e5e7eb;border-radius:.4rem;padding:.6rem 1rem;margin:.8rem 0}
.finding h3{margin:.2rem 0}blockquote{margin:.4rem 0;padding:.3rem .8rem;border-left:4px solid #d1d5db;
 background:#f9fafb}cite{display:block;color:#4b5563;font-size:.85rem;font-style:normal}
.present{color:#15803d}.missing{color:#b91c1c;font-weight:600}.not_applicable{color:#6b7280}
.muted{color:#6b7280}ul.tree{list-style:none;padding-left:1.2rem}ul.tree>li{margin:.4rem 0}
.charts{display:flex;flex-wrap:wrap;gap:1.5rem}
nav.toc{border:1px solid #e5e7eb;border-radius:.4rem;padding:.4rem 1rem;background:#f9fafb}
nav.toc ol{margin:.2rem 0;padding-left:1.4rem}nav.toc ol ol{font-size:.88rem}
.filter{position:absolute;opacity:0}
.filter+label{display:inline-block;border:1px solid #d1d5db;border-radius:.8rem;padding:0 .6rem;
 margin:.2rem .3rem .6rem 0;cursor:pointer;font-size:.85rem}
.filter:checked+label{background:#111827;color:#fff}.filter:focus-visible+label{outline:2px solid #2563eb}
.triage{display:inline-block;margin-left:.5rem;font-size:.8rem;color:#374151;border:1px dashed #9ca3af;
 border-radius:.6rem;padding:0 .45rem}.triage.stale,.triage.reopened{color:#b45309;border-color:#b45309}
.finding:target{outline:3px solid #2563eb}
"""
SEVERITY_ORDER = ("critical", "high", "medium", "low", "info")
# The severity filter is CSS only (the page's CSP allows no script): one radio per severity,
# placed before the list as its siblings; a checked radio hides every other severity's findings.
_CSS += "".join(
    f"#sev-{s}:checked~.findings-list .finding:not(.sev-{s}){{display:none}}" for s in SEVERITY_ORDER
)


def _t(value: Any) -> str:
    """Escaped text; datetimes as UTC to the second; None as a dash."""
    if value is None:
        return "–"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S UTC")
    if isinstance(value, float):
        return f"{value:.4f}".rstrip("0").rstrip(".") if value else "0"
    return escape(str(value))


def _sev(severity: str | None) -> str:
    if not severity:
        return ""
    colour = SEVERITY_COLOURS.get(severity, "#6b7280")
    return f'<span class="sev" style="background:{colour}">{escape(severity)}</span>'


def _table(headers: list[str], rows: list[list[str]], cls: str = "") -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    attr = f' class="{cls}"' if cls else ""
    return f"<table{attr}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _summary(s: dict[str, Any]) -> str:
    docs = ", ".join(
        f"{escape(d['name'])} ({escape(d['format'])}, {d['passages']} passages)" for d in s["documents"]
    )
    sev = " ".join(f"{_sev(k)} {n}" for k, n in s["by_severity"].items()) or "none"
    rows = [
        ["Run", f"<code>{_t(s['run_id'])}</code>"],
        ["Tenant", _t(s["tenant"])],
        ["Requested by", _t(s["requester"])],
        ["Runbook", f"{_t(s['runbook'])} v{_t(s['version'])} (declares v{_t(s['declared_version'])})"],
        ["Runbook sha256", f"<code>{_t(s['sha256'])}</code>"],
        ["Status", _t(s["status"]) + (f" — {_t(s['status_reason'])}" if s["status_reason"] else "")],
        ["Approved by", _t(", ".join(s["approvers"]) or None)],
        ["Documents", docs or "–"],
        ["Started / finished", f"{_t(s['created_at'])} / {_t(s['finished_at'])}"],
        ["Runs / steps", f"{s['runs']} / {s['steps']}"],
        ["Step time", f"{s['duration_s']:.2f} s"],
        ["Cost", f"${s['cost_usd']:.4f}"],
        ["Findings", f"{s['findings']}: {sev}" + _suppressed(s)],
    ]
    return (
        '<table class="summary"><tbody>'
        + "".join(f'<tr><th scope="row">{escape(k)}</th><td>{v}</td></tr>' for k, v in rows)
        + "</tbody></table>"
    )


def _triage(f: dict[str, Any]) -> str:
    t = f.get("triage")
    if not t:
        return ""
    if t["status"] == "stale":
        text = f"triage: stale (was {t['state']}; the evidence changed)"
    elif t["status"] == "reopened":
        text = f"reopened: marked fixed by {t['who']}, found again"
    else:
        text = f"{t['state'].replace('_', ' ')}: {t['who']}, {t['why']}"
    return f'<span class="triage {escape(t["status"])}">{_t(text)}</span>'


def finding_anchor(f: dict[str, Any]) -> str:
    """The page-unique id of a finding's article (ids repeat across the runs of a tree)."""
    return f"finding-{f['run_id']}-{f['finding_id']}".replace(".", "-")


def _filter(found: list[dict[str, Any]]) -> str:
    """Radios (all, then each severity present): siblings of the list they filter."""
    counts = {s: sum(1 for f in found if f["severity"] == s) for s in SEVERITY_ORDER}
    radios = [
        '<input class="filter" type="radio" name="sev" id="sev-all" checked><label for="sev-all">all</label>'
    ]
    radios += [
        f'<input class="filter" type="radio" name="sev" id="sev-{s}"><label for="sev-{s}">{s} ({n})</label>'
        for s, n in counts.items()
        if n
    ]
    return '<span class="muted">Show: </span>' + "".join(radios)


def _suppressed(s: dict[str, Any]) -> str:
    n = s.get("suppressed") or 0
    if not n:
        return ""
    how = "hidden" if s.get("suppressed_hidden") else "shown, marked"
    return f" ({n} suppressed by triage: {how})"


def _findings(found: list[dict[str, Any]]) -> str:
    if not found:
        return '<p class="muted">No findings.</p>'
    parts = []
    for f in found:
        cites = (
            "".join(
                f"<blockquote>{_t(c.get('text') or c['quote'] or c['passage_text'])}"
                f"<cite>{_t(c['where'])}</cite></blockquote>"
                for c in f["citations"]
            )
            or _NO_CITATION
        )
        meta = [
            f"<code>{_t(f['code'])}</code>",
            _t(f["article"]),
            f"system: {_t(f['system'])}",
            f"run <code>{_t(f['run_id'])}</code> step {_t(f['step_id'])}",
        ]
        parts.append(
            f'<article class="finding sev-{escape(f["severity"])}" id="{escape(finding_anchor(f))}">'
            f"{_sev(f['severity'])}{_triage(f)}"
            f'<h3>{_t(f["title"])}</h3><p class="muted">{" · ".join(meta)}</p>'
            f"<p>{_t(f['message'])}</p>{cites}</article>"
        )
    return _filter(found) + '<div class="findings-list">' + "".join(parts) + "</div>"


def _toc(report: dict[str, Any]) -> str:
    """Jump links: each section, and under Findings each finding."""
    items = "".join(
        f'<li><a href="#{escape(finding_anchor(f))}">{escape(f["severity"])}: {_t(f["title"])}</a></li>'
        for f in report["findings"]
    )
    sections = (
        ("summary", "Summary"),
        ("charts", "At a glance"),
        ("findings", "Findings"),
        ("transparency", "GDPR Art. 13/14 transparency"),
        ("tree", "Execution tree"),
        ("approvals", "Approvals"),
        ("costs", "Costs"),
    )
    rows = "".join(
        f'<li><a href="#{key}">{name}</a>'
        + (f"<ol>{items}</ol>" if key == "findings" and items else "")
        + "</li>"
        for key, name in sections
    )
    return f'<nav class="toc" aria-label="Contents"><strong>Contents</strong><ol>{rows}</ol></nav>'


def _passage_ref(p: dict[str, Any], row: dict[str, Any]) -> str:
    """A passage's number; in a document set, after its document's name (citations name it)."""
    from warden.documents.sets import display_name

    number = p["passage_id"].rsplit("#", 1)[-1]
    if row.get("document_set") and p.get("document_name"):
        return f"{display_name(p['document_name'])} #{number}"
    return str(number)


def _status(row: dict[str, Any]) -> str:
    return f"deferred to {row['deferred_to']}" if row.get("deferred_to") else str(row["status"])


def _transparency(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return '<p class="muted">No transparency report in this run.</p>'
    body = []
    for r in rows:
        shown = "<br>".join(
            f'<span class="mono">{_t(_passage_ref(p, r))}</span> {_t(p["text"][:140])}'
            + ("…" if len(p["text"]) > 140 else "")
            for p in r["passages"][:3]
        )
        if len(r["passages"]) > 3:
            shown += f'<br><span class="muted">and {len(r["passages"]) - 3} more</span>'
        body.append(
            [
                _t(r["title"]) + (' <span class="muted">(conditional)</span>' if r["conditional"] else ""),
                _t(r["article"]),
                f'<span class="{escape(r["status"])}">{_t(_status(r))}</span>',
                _sev(r["severity"]),
                shown or "–",
            ]
        )
    return _table(["Item", "Article", "Status", "Severity", "Disclosed in"], body, "transparency")


def _tree(node: dict[str, Any]) -> str:
    steps = _table(
        ["Step", "Analyser", "System", "Status", "Attempts", "Seconds", "Cost"],
        [
            [
                _t(s["step_id"]),
                _t(s["analyser"] or "execute_workflow"),
                _t(s["system_id"]),
                _t(s["status"]) + (f'<br><span class="muted">{_t(s["error"])}</span>' if s["error"] else ""),
                _t(s["attempts"]),
                f"{s['duration_s']:.3f}" if s["duration_s"] is not None else "–",
                f"${s['cost_usd']:.4f}",
            ]
            for s in node["steps"]
        ],
    )
    head = (
        f"<strong><code>{_t(node['run_id'])}</code></strong> "
        f"{_t(node['runbook'])} v{_t(node['approved_version'])}"
        f" — {_t(node['status'])}, {node['duration_s']:.2f} s, ${node['cost_usd']:.4f}"
        f' <span class="muted">sha256 {_t((node["runbook_sha256"] or "")[:12])}</span>'
    )
    children = "".join(_tree(c) for c in node["children"])
    return f'<ul class="tree"><li>{head}{steps}{children}</li></ul>'


def _approvals(timeline: list[dict[str, Any]]) -> str:
    if not timeline:
        return '<p class="muted">No approvals.</p>'
    return _table(
        ["When", "Run", "Event", "Who", "Role", "Runbook", "Comment / changes", "Waited"],
        [
            [
                _t(e["at"]),
                f"<code>{_t(e['run_id'])}</code>",
                _t(e["event"]),
                _t(e["actor"]),
                _t(e["role"]),
                f"{_t(e['runbook'])}" + (f" v{_t(e['version'])}" if e["version"] is not None else ""),
                "<br>".join(_t(x) for x in (e["comment"], e["change_summary"]) if x) or "–",
                f"{e['waited_s']:.1f} s" if e["waited_s"] is not None else "–",
            ]
            for e in timeline
        ],
        "approvals",
    )


def _costs(costs: dict[str, Any]) -> str:
    head = (
        f"<p>Total <strong>${costs['total_usd']:.4f}</strong>, "
        f"tokens in {costs['tokens_in']}, out {costs['tokens_out']}.</p>"
    )
    if not costs["by_step"]:
        return head + '<p class="muted">Nothing was charged: every step ran offline.</p>'
    return head + _table(
        ["Run", "Step", "Amount"],
        [
            [f"<code>{_t(r['run_id'])}</code>", _t(r["step_id"]), f"${r['amount_usd']:.4f}"]
            for r in costs["by_step"]
        ],
    )


def render_html(report: dict[str, Any]) -> str:
    """One standalone page a browser can open with the network off."""
    title = escape(report["title"])
    charts = severity_chart_svg(report["severity_by_system"]) + timings_chart_svg(report["step_timings"])
    charts = charts.replace(_SVG_NS, "")  # inline SVG in HTML needs no namespace: no URL in the page
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><style>{_CSS}</style></head>
<body>
<h1>{title}</h1>
<p class="muted">Generated {_t(report["generated_at"])} from the Warden store.
Self-contained: no scripts, no external resources.</p>
{_toc(report)}
<section id="summary"><h2>Summary</h2>{_summary(report["summary"])}</section>
<section id="charts"><h2>At a glance</h2><div class="charts">{charts}</div></section>
<section id="findings"><h2>Findings</h2>{_findings(report["findings"])}</section>
<section id="transparency"><h2>GDPR Art. 13/14 transparency</h2>
{_transparency(report["transparency"])}</section>
<section id="tree"><h2>Execution tree</h2>{_tree(report["tree"])}</section>
<section id="approvals"><h2>Approvals</h2>{_approvals(report["approvals"])}</section>
<section id="costs"><h2>Costs</h2>{_costs(report["costs"])}</section>
</body></html>
"""
