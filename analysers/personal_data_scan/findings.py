"""Findings: one per category and location, keyed so a re-run of the same scan upserts them."""

from __future__ import annotations

import hashlib

from warden_analysers.personal_data_scan.detect import Hit

from warden.schemas.finding import Evidence, Finding, Severity

__all__ = ["ANALYSER", "finding_id", "to_finding"]

ANALYSER = "personal_data_scan"


def finding_id(system_id: str, location: str, key: str) -> str:
    """Deterministic: the same category at the same location of a system keeps its id."""
    digest = hashlib.sha256(f"{ANALYSER}\x1f{system_id}\x1f{location}\x1f{key}".encode()).hexdigest()
    return f"pds-{digest[:20]}"


def to_finding(hit: Hit, system_id: str) -> Finding:
    """An inventory finding; Art. 9 categories get ``medium`` so an analyst checks their basis."""
    cat = hit.category
    severity: Severity = "medium" if cat.special_category else "info"
    evidence_location = cat.location
    kind = "special-category data (GDPR Art. 9)" if cat.special_category else "personal data"
    if cat.method == "name":
        why = "its name says so; no sampled value confirmed it"
    else:
        why = f"{cat.matches} of {cat.sampled} sampled values validated ({cat.detector})"
        if cat.method == "value+name":
            why += " and its name agrees"
    details: dict[str, object] = {
        "matches": cat.matches,
        "sampled": cat.sampled,
        "method": cat.method,
        "detector": cat.detector,
    }
    if hit.line is not None:
        details["first_line"] = hit.line
    return Finding(
        id=finding_id(system_id, cat.location, cat.key),
        analyser=ANALYSER,
        code="scan.special_category" if cat.special_category else "scan.personal_data",
        title=f"{cat.key} in {cat.location}",
        severity=severity,
        category="inventory",
        message=f"System '{system_id}' holds {kind} of category {cat.key} at {cat.location}: {why}.",
        article="GDPR Art. 9(1)" if cat.special_category else "GDPR Art. 30(1)(c)",
        data_category=cat.key,
        system_id=system_id,
        evidence=[Evidence(system_id=system_id, location=evidence_location, quote=cat.masked_example)],
        details=details,
    )
