"""Findings of a run tree, and counts by severity, category or system.

A finding's system is its own ``system_id``, else the system its step was pointed at: a scan
step's findings belong to the system it read even when the analyser leaves the field empty.
Findings about the notice itself have no system and are grouped as ``DOCUMENT``.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any, Literal

from warden.errors import UsageError
from warden.investigate.source import Source
from warden.store import reads
from warden.store.findings import fill_identity
from warden.store.triage import attach_triage

__all__ = ["DOCUMENT", "SEVERITIES", "GroupBy", "findings", "findings_by", "severity_by_system"]

SEVERITIES: tuple[str, ...] = ("critical", "high", "medium", "low", "info")
"""Most severe first: the order every table and chart uses."""

DOCUMENT = "(document)"
"""The system name of findings about the notice rather than a system."""

GroupBy = Literal["severity", "category", "system"]


def findings(source: Source, run_id: str) -> list[dict[str, Any]]:
    """Findings of `run_id` and every run below it, most severe first, evidence decoded, each
    with its ``fingerprint``, the tenant's ``triage`` of it (or None) and ``suppressed``."""
    with source.connect() as con:
        source.run(run_id)
        rows = reads.findings_of_tree(con, run_id)
        for row in rows:
            row["evidence"] = json.loads(row.pop("evidence_json"))
            row["details"] = json.loads(row.pop("details_json"))
            fill_identity(row)
            row["system"] = row["system"] or DOCUMENT
        attach_triage(con, rows)
    rank = {name: i for i, name in enumerate(SEVERITIES)}
    rows.sort(key=lambda r: (rank.get(r["severity"], len(rank)), r["run_id"], r["code"], r["finding_id"]))
    return rows


def findings_by(source: Source, run_id: str, by: GroupBy) -> list[dict[str, Any]]:
    """[{by: value, "findings": n}], severities in severity order, anything else by count."""
    if by not in ("severity", "category", "system"):
        raise UsageError(f"cannot group findings by {by!r}", fix="use severity, category or system")
    counts = Counter(str(f[by]) for f in findings(source, run_id))
    if by == "severity":
        keys = [s for s in SEVERITIES if s in counts] + sorted(set(counts) - set(SEVERITIES))
    else:
        keys = sorted(counts, key=lambda k: (-counts[k], k))
    return [{by: key, "findings": counts[key]} for key in keys]


def severity_by_system(source: Source, run_id: str) -> dict[str, dict[str, int]]:
    """{system: {severity: n}}: the shape of a stacked bar chart."""
    table: dict[str, dict[str, int]] = {}
    for f in findings(source, run_id):
        row = table.setdefault(f["system"], {})
        row[f["severity"]] = row.get(f["severity"], 0) + 1
    return table
