"""Investigating runs after the fact: read-only helpers for notebooks, reports and audit exports.

Everything here reads the DuckDB store through ``open_store()`` (read-only, one short
connection per helper call, so `warden approve` is never blocked; the SQL lives in
``warden.store.reads``) and returns plain Python data.

    from warden.investigate import open_store, latest_root_run, findings_by
    source = open_store()                  # $WARDEN_HOME, or pass the state directory
    run = latest_root_run(source)
    findings_by(source, run, "severity")
"""

from warden.investigate.approvals import approvals, approvals_timeline
from warden.investigate.audit import audit_events, export_records, write_csv, write_jsonl
from warden.investigate.charts import bar_chart_svg, severity_chart_svg, timings_chart_svg
from warden.investigate.costs import cost_entries, cost_summary
from warden.investigate.display import Table, table
from warden.investigate.evidence import Citation, evidence_of, passages, transparency
from warden.investigate.findings import DOCUMENT, SEVERITIES, findings, findings_by, severity_by_system
from warden.investigate.report import build_report, render
from warden.investigate.source import Source, latest_root_run, open_store
from warden.investigate.tree import RunNode, StepNode, execution_tree, format_tree, step_timings, walk
from warden.investigate.versions import VersionDiff, runbook_versions, version_diff, versions_of_run
from warden.redaction import redact, redact_text

__all__ = [
    "DOCUMENT",
    "SEVERITIES",
    "Citation",
    "RunNode",
    "Source",
    "StepNode",
    "Table",
    "VersionDiff",
    "approvals",
    "approvals_timeline",
    "audit_events",
    "bar_chart_svg",
    "build_report",
    "cost_entries",
    "cost_summary",
    "evidence_of",
    "execution_tree",
    "export_records",
    "findings",
    "findings_by",
    "format_tree",
    "latest_root_run",
    "open_store",
    "passages",
    "redact",
    "redact_text",
    "render",
    "runbook_versions",
    "severity_by_system",
    "severity_chart_svg",
    "step_timings",
    "table",
    "timings_chart_svg",
    "transparency",
    "version_diff",
    "versions_of_run",
    "walk",
    "write_csv",
    "write_jsonl",
]
