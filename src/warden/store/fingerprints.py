"""A finding's identity across runs, and a hash of the evidence it rests on.

The **fingerprint** names what a finding is about, independently of the run that found it:
the tenant, the analyser, the code, the subject, and the identity of the documents it is about.

- subject: the system, the data category, the Art. 13/14 item and the recipient the finding
  names (whichever it has); for ``personal_data_scan`` findings, one column or field each, also
  the location (table.column, file:field) it was found at. Other findings about a system list
  their locations as evidence: a new column holding the same category is a change of
  evidence, not a new finding.
- document identity: the content hashes (document ids are the sha256 of the file) of the
  documents the finding cites; a finding about the notice that cites nothing (an Art. 13/14
  item found nowhere) is about every document of its run. Findings about systems only carry
  none: the same column is the same finding whatever notice was analysed with it.

The **evidence hash** covers the evidence (quotes, masked examples, locations, passages) and
the details (match counts, recipients' countries, ...) but not the document's display name:
triage recorded against one evidence hash stops applying once the evidence differs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["LOCATION_KEYED", "evidence_hash", "fingerprint"]

LOCATION_KEYED = frozenset({"personal_data_scan"})
"""Analysers whose findings are one location each: the location is part of the subject."""

_NOT_EVIDENCE = frozenset({"document"})
"""Detail keys left out of the evidence hash (a document's display name is not evidence)."""


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def fingerprint(
    *,
    tenant: str,
    analyser: str,
    code: str,
    system_id: str | None,
    data_category: str | None,
    details: Mapping[str, Any],
    evidence: Iterable[Mapping[str, Any]],
    run_documents: Iterable[str] = (),
) -> str:
    """``fp-`` and 24 hex digits: equal for the same finding in any run of the tenant."""
    evidence = list(evidence)
    cited = sorted({str(e["document_id"]) for e in evidence if e.get("document_id")})
    documents = cited or ([] if system_id else sorted(set(run_documents)))
    locations = (
        sorted({str(e["location"]) for e in evidence if e.get("location")})
        if analyser in LOCATION_KEYED
        else []
    )
    subject = {
        "system": system_id,
        "data_category": data_category,
        "item": details.get("item"),
        "recipient": details.get("recipient"),
        "locations": locations,
    }
    return "fp-" + _digest([tenant, analyser, code, subject, documents])[:24]


def evidence_hash(evidence: Iterable[Mapping[str, Any]], details: Mapping[str, Any]) -> str:
    """sha256 of the evidence and the details (but the document's display name)."""
    kept = {k: v for k, v in details.items() if k not in _NOT_EVIDENCE}
    return _digest({"evidence": list(evidence), "details": kept})
