"""The audit export: every event of a run tree in order, redacted, as JSON lines or CSV.

From the events alone an auditor can tell which runbook version ran (``runbook_drafted``,
``approval:*``), for which tenant (every row), with which model configuration
(``run_requested``), which analysers ran (``step_completed``), who approved (``approval:*``
actor and role), which checks passed (``guard_report``) and what changed since the previous
version (``approval:*`` change summary and diff). Payloads are redacted; the actor column is
not, because it holds the policy's user ids and "who approved" must survive the export.

Every record also carries its link in the tenant's hash chain (``event_key``, ``chain_no``,
``prev_hash``, ``hash``) and ``payload_sha256``, the digest of the stored, unredacted payload
JSON that the hash covers: an auditor recomputes each hash and link from the export alone
(docs/AUDIT.md), while the redacted ``payload`` shown next to it is a view the chain does not
cover (``warden audit verify`` checks the stored payloads themselves).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any, TextIO

from warden.investigate import spreadsheet
from warden.investigate.source import Source
from warden.redaction import redact
from warden.store import reads
from warden.store.audit import iso_at, payload_digest

__all__ = ["CSV_COLUMNS", "audit_events", "export_records", "write_csv", "write_jsonl"]

CSV_COLUMNS = (
    "seq",
    "at",
    "run_id",
    "root_run_id",
    "tenant",
    "actor",
    "event",
    "event_key",
    "chain_no",
    "prev_hash",
    "hash",
    "payload_sha256",
    "payload",
)
"""The CSV header; ``payload`` (last) holds the redacted payload as JSON, empty cells are nulls."""


def audit_events(source: Source, run_id: str) -> list[dict[str, Any]]:
    """Raw events of `run_id` and every run below it, in the order they were written."""
    with source.connect() as con:
        source.run(run_id)
        rows = reads.audit_events_of_tree(con, run_id)
    for row in rows:
        row["payload_sha256"] = payload_digest(row["payload_json"])
        row["payload"] = json.loads(row.pop("payload_json"))
    return rows


def _iso(value: datetime) -> str:
    return iso_at(value)  # stored as naive UTC; the exact text the chain hashes


def export_records(source: Source, run_id: str) -> list[dict[str, Any]]:
    """The events as JSON-ready records with times in ISO 8601 UTC and payloads redacted."""
    return [
        {
            "seq": e["seq"],
            "at": _iso(e["at"]),
            "run_id": e["run_id"],
            "root_run_id": e["root_run_id"],
            "tenant": e["tenant"],
            "actor": e["actor"],
            "event": e["event"],
            "event_key": e["event_key"],
            "chain_no": e["chain_no"],
            "prev_hash": e["prev_hash"],
            "hash": e["hash"],
            "payload_sha256": e["payload_sha256"],
            "payload": redact(e["payload"]),
        }
        for e in audit_events(source, run_id)
    ]


def write_jsonl(records: Iterable[dict[str, Any]], out: TextIO) -> int:
    """One JSON object per line; returns the number written."""
    n = 0
    for record in records:
        out.write(json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n")
        n += 1
    return n


def write_csv(records: Iterable[dict[str, Any]], out: TextIO) -> int:
    """One row per event; the payload column holds the payload as JSON; nulls are empty cells. A
    text cell starting with a spreadsheet formula trigger (= + - @, tab, CR: an actor's id, say)
    is prefixed with ' (docs/AUDIT.md: strip it before recomputing a hash from the CSV)."""
    writer = spreadsheet.writer(out)
    writer.writerow(CSV_COLUMNS)
    n = 0
    for r in records:
        cells = ["" if r[c] is None else r[c] for c in CSV_COLUMNS[:-1]]
        writer.writerow([*cells, json.dumps(r["payload"], sort_keys=True)])
        n += 1
    return n
