"""What a finding rests on: the passages it cites, in full, and the transparency table.

The store keeps every passage of every analysed document, so a citation can be shown with its
headings and page long after the run, without the original file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from warden.errors import UsageError
from warden.investigate.source import Source
from warden.store import reads

__all__ = ["Citation", "evidence_of", "passages", "transparency"]


@dataclass(frozen=True)
class Citation:
    """One piece of a finding's evidence: a passage of a document, or a location in a system."""

    finding_id: str
    quote: str | None
    document_id: str | None = None
    document_name: str | None = None
    passage_id: str | None = None
    index: int | None = None
    page: int | None = None
    headings: list[str] = field(default_factory=list)
    passage_text: str | None = None
    system_id: str | None = None
    location: str | None = None

    @property
    def text(self) -> str:
        """What to show as the quote: the quote, else the whole passage, else (a column found
        by its name, no value sampled) what was found where."""
        if self.quote:
            return self.quote
        if self.passage_text:
            return self.passage_text
        if self.location:
            return f"{self.location} (found by its name; no value was quoted)"
        return "(no quote stored)"

    @property
    def where(self) -> str:
        """Where to look: the system location, or the document, section and page."""
        if self.system_id or self.location:
            return ":".join(x for x in (self.system_id, self.location) if x)
        parts = [self.document_name or self.document_id or "document"]
        if self.headings:
            parts.append(" › ".join(self.headings))
        if self.page:
            parts.append(f"page {self.page}")
        if self.passage_id:
            parts.append(f"passage {self.passage_id}")
        return ", ".join(parts)


def passages(source: Source, passage_ids: list[str], run_id: str) -> list[dict[str, Any]]:
    """Stored passages by id of the documents `run_id`'s tree reads, with their document's name
    as that tree named it (the same bytes may be stored under another tenant's name) and their
    headings decoded."""
    if not passage_ids:
        return []
    root = source.run(run_id)["root_run_id"]
    with source.connect() as con:
        rows = reads.passages_by_id(con, list(passage_ids), root)
    for row in rows:
        row["headings"] = json.loads(row.pop("headings_json"))
    return rows


def evidence_of(source: Source, run_id: str, finding_id: str) -> list[Citation]:
    """The citations behind one finding of the tree; [] when it cites nothing (a missing item)."""
    with source.connect() as con:
        source.run(run_id)
        found = reads.evidence_of_finding(con, run_id, finding_id)
        if not found:
            raise UsageError(
                f"no finding '{finding_id}' in run {run_id}",
                fix="list the run's findings with findings(source, run_id)",
                code="unknown_finding",
            )
        evidence = json.loads(found[0]["evidence_json"])
        stored = {
            p["passage_id"]: p
            for p in passages(source, [e["passage_id"] for e in evidence if e.get("passage_id")], run_id)
        }
    out = []
    for e in evidence:
        p = stored.get(e.get("passage_id") or "", {})
        out.append(
            Citation(
                finding_id=finding_id,
                quote=e.get("quote"),
                document_id=e.get("document_id") or p.get("document_id"),
                document_name=p.get("document_name"),
                passage_id=e.get("passage_id"),
                index=p.get("idx"),
                page=e.get("page") or p.get("page"),
                headings=p.get("headings", []),
                passage_text=p.get("text"),
                system_id=e.get("system_id"),
                location=e.get("location"),
            )
        )
    return out


def transparency(source: Source, run_id: str) -> list[dict[str, Any]]:
    """The Art. 13/14 table of every transparency report in the tree, one row per item.

    Each row: document, item, title, article, status, conditional, severity (of its finding,
    if missing), and the passages that disclose it (id, headings, text, document name); for a
    document set, ``document_set`` is true and ``documents`` names the documents it is found in.
    """
    rows: list[dict[str, Any]] = []
    with source.connect() as con:
        source.run(run_id)
        for report in reads.transparency_reports_of_tree(con, run_id):
            data = json.loads(report["output_json"])
            severity = {f["details"].get("item"): f["severity"] for f in data.get("findings", [])}
            cited = {
                p["passage_id"]: p
                for p in passages(
                    source, sorted({i for it in data["items"] for i in it["passage_ids"]}), run_id
                )
            }
            for item in data["items"]:
                rows.append(
                    {
                        "run_id": report["run_id"],
                        "step_id": report["step_id"],
                        "document": data.get("document_name"),
                        "item": item["item"],
                        "title": item["title"],
                        "article": item["article"],
                        "status": item["status"],
                        "conditional": item["conditional"],
                        "severity": severity.get(item["item"]),
                        "passages": [cited[i] for i in item["passage_ids"] if i in cited],
                        "deferred_to": item.get("deferred_to"),
                        # a document set: the documents the item's passages are from
                        "documents": item.get("documents") or [],
                        "document_set": len(data.get("documents") or []) > 1,
                    }
                )
    return rows
