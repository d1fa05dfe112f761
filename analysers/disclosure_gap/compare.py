"""The comparison: each system hit either has a disclosure that covers it, or becomes a gap."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from warden_analysers.disclosure_gap.notice import Disclosures, covers
from warden_analysers.disclosure_gap.rules_model import GapRules
from warden_analysers.policy_practices.quotes import clean_quote

from warden.schemas.finding import Evidence, Finding
from warden.schemas.scan import CategoryHit, RecipientHit, SystemScan

__all__ = ["ANALYSER", "compare", "finding_id"]

ANALYSER = "disclosure_gap"
MAX_LOCATIONS = 10
"""Evidence locations kept per finding; past it, :func:`_unlisted` says how many more and which."""


def finding_id(*parts: str) -> str:
    """Deterministic: the same gap for the same system always gets the same id."""
    digest = hashlib.sha256("\x1f".join([ANALYSER, *parts]).encode()).hexdigest()
    return f"gap-{digest[:20]}"


def _gap(code: str, key: tuple[str, ...], **fields: Any) -> Finding:
    """A disclosure finding; ``key`` names it so a re-run upserts instead of duplicating."""
    fields.setdefault("category", "disclosure")
    return Finding(id=finding_id(*key), analyser=ANALYSER, code=f"gap.{code}", **fields)


def _hit_evidence(system_id: str, hits: Iterable[CategoryHit]) -> list[Evidence]:
    return [
        Evidence(system_id=system_id, location=h.location, quote=h.masked_example)
        for h in list(hits)[:MAX_LOCATIONS]
    ]


def _unlisted(hits: Iterable[CategoryHit]) -> dict[str, Any]:
    """Details for the locations past :data:`MAX_LOCATIONS` the evidence leaves out: their count
    and a digest of them, so the evidence hash (store/fingerprints.py) changes when one is added
    or renamed and a triage made on the old set goes stale. Empty when every location is listed
    (a finding's hash stays what it was)."""
    rest = [h.location for h in list(hits)[MAX_LOCATIONS:]]
    if not rest:
        return {}
    digest = hashlib.sha256("\x1f".join(sorted(rest)).encode()).hexdigest()[:16]
    return {"unlisted_locations": len(rest), "unlisted_digest": digest}


def _passage_evidence(disclosures: Disclosures, passage_ids: Iterable[str]) -> list[Evidence]:
    by_id = {p.id: p for p in disclosures.all_passages}
    return [
        Evidence(
            # a document set's passages name their own document
            document_id=by_id[pid].document_id or disclosures.document_id,
            passage_id=pid,
            page=by_id[pid].page,
            quote=clean_quote(by_id[pid].text, 300),  # no table pipes, no word cut in two
        )
        for pid in passage_ids
        if pid in by_id
    ]


def _category_gaps(scan: SystemScan, disclosures: Disclosures, rules: GapRules) -> list[Finding]:
    by_key: dict[str, list[CategoryHit]] = defaultdict(list)
    for hit in scan.categories:
        by_key[hit.key].append(hit)
    findings = []
    for key, hits in sorted(by_key.items()):
        special = rules.is_special(key) or any(h.special_category for h in hits)
        disclosed = disclosures.category_passages(key)
        where = ", ".join(h.location for h in hits[:3]) + (" ..." if len(hits) > 3 else "")
        details = {
            "locations": len(hits),
            "matches": sum(h.matches for h in hits),
            "methods": sorted({h.method for h in hits}),
            **_unlisted(hits),
        }
        if special and not disclosures.art9_passages:
            findings.append(
                _gap(
                    "special_category_no_condition",
                    (
                        scan.system_id,
                        "special",
                        key,
                    ),
                    title=f"Special-category data with no Art. 9 condition: {key}",
                    severity="critical",
                    message=(
                        f"System '{scan.system_id}' holds special-category data ({key}) at {where}, "
                        "and no passage of the notice names an Art. 9(2) condition (explicit consent, "
                        "employment law, vital interests, ...) for processing it."
                    ),
                    article="GDPR Art. 9(2), Art. 13(1)(c)",
                    data_category=key,
                    system_id=scan.system_id,
                    evidence=_hit_evidence(scan.system_id, hits),
                    details={**details, "disclosed_in": disclosed},
                )
            )
        elif not disclosed:
            findings.append(
                _gap(
                    "undisclosed_collection",
                    (
                        scan.system_id,
                        "collection",
                        key,
                    ),
                    title=f"Undisclosed personal data: {key} in {scan.system_id}",
                    severity="critical" if special else rules.severity_of(key),
                    message=(
                        f"System '{scan.system_id}' holds {key} at {where}; the notice names no category "
                        "of personal data that covers it."
                    ),
                    article="GDPR Art. 13(1)(c), 14(1)(d)",
                    data_category=key,
                    system_id=scan.system_id,
                    evidence=_hit_evidence(scan.system_id, hits),
                    details=details,
                )
            )
    return findings


def _recipient_gaps(scan: SystemScan, disclosures: Disclosures, rules: GapRules) -> list[Finding]:
    findings = []
    home = set(rules.home_countries)
    for hit in sorted(scan.recipients, key=lambda r: r.recipient):
        named = disclosures.names(hit.recipient, _aliases(hit), rules)
        by_kind = disclosures.names_kind(hit.kind, rules)
        evidence = [Evidence(system_id=scan.system_id, location=hit.location, quote=hit.evidence)]
        abroad = sorted(c for c in hit.countries if c not in home)
        cited = [p.id for p in disclosures.recipient_passages[:2]]
        if named is None and by_kind is None:
            findings.append(
                _gap(
                    "undisclosed_recipient",
                    (
                        scan.system_id,
                        "recipient",
                        hit.recipient,
                    ),
                    title=f"Undisclosed recipient: {hit.recipient}",
                    severity="high",
                    message=(
                        f"Code in '{scan.system_id}' sends data to {hit.recipient} "
                        f"({hit.kind.replace('_', ' ')}{', in ' + ', '.join(abroad) if abroad else ''}), "
                        f"evidence at {hit.location}; the "
                        "notice neither names it nor a category of recipients that covers it."
                    ),
                    article="GDPR Art. 13(1)(e), 14(1)(e)",
                    system_id=scan.system_id,
                    evidence=evidence + _passage_evidence(disclosures, cited),
                    details={
                        "recipient": hit.recipient,
                        "kind": hit.kind,
                        "countries": hit.countries,
                        # the evidence names the first place only: more code sending to it
                        # is other evidence (a count of 1 is left out, keeping older hashes)
                        **({"occurrences": hit.occurrences} if hit.occurrences > 1 else {}),
                    },
                )
            )
        for country in abroad:
            if disclosures.transfer_to(country, rules) is None:
                findings.append(
                    _gap(
                        "undisclosed_transfer",
                        (
                            scan.system_id,
                            "transfer",
                            hit.recipient,
                            country,
                        ),
                        title=f"Undisclosed transfer to {country}: {hit.recipient}",
                        severity="high",
                        message=(
                            f"{hit.recipient} processes data in {country}, outside the EEA and UK; "
                            "the notice discloses no transfer there, nor to third countries in general."
                        ),
                        article="GDPR Art. 13(1)(f), 14(1)(f)",
                        system_id=scan.system_id,
                        evidence=evidence,
                        details={"recipient": hit.recipient, "country": country},
                    )
                )
    return findings


def _aliases(hit: RecipientHit) -> list[str]:
    """Other ways a notice may name the recipient: its name without a parenthesis or suffix."""
    base = hit.recipient.split("(")[0].strip()
    return [base] if base != hit.recipient else []


def _retention_gap(scan: SystemScan, disclosures: Disclosures) -> list[Finding]:
    if disclosures.retention_passages or not scan.categories:
        return []
    keys = sorted({h.key for h in scan.categories})
    return [
        _gap(
            "retention_undisclosed",
            (
                scan.system_id,
                "retention",
            ),
            title=f"No retention period for data held in {scan.system_id}",
            severity="medium",
            message=(
                f"System '{scan.system_id}' holds personal data ({', '.join(keys[:5])}"
                f"{' ...' if len(keys) > 5 else ''}); the notice says nothing about how long it is kept."
            ),
            article="GDPR Art. 13(2)(a), 14(2)(a)",
            system_id=scan.system_id,
            evidence=_hit_evidence(scan.system_id, scan.categories),
            details={"categories": keys, **_unlisted(scan.categories)},
        )
    ]


def _unevidenced(scans: list[SystemScan], disclosures: Disclosures) -> list[Finding]:
    found = {h.key for scan in scans for h in scan.categories}
    findings = []
    for key, passage_ids in sorted(disclosures.categories.items()):
        if any(covers(key, f) for f in found):
            continue
        findings.append(
            _gap(
                "disclosed_not_found",
                (
                    disclosures.document_id,
                    "unevidenced",
                    key,
                ),
                title=f"Disclosed but not found in any scanned system: {key}",
                severity="info",
                message=(
                    f"The notice names {key}, and none of the {len(scans)} scanned system(s) showed it: "
                    "it may live in a system outside the inventory, or the disclosure may be stale."
                ),
                data_category=key,
                evidence=_passage_evidence(disclosures, sorted(set(passage_ids))[:3]),
                details={"systems_scanned": sorted(s.system_id for s in scans)},
            )
        )
    return findings


def compare(
    disclosures: Disclosures, scans: list[SystemScan], rules: GapRules, report_unevidenced: bool = True
) -> list[Finding]:
    """Every gap, systems in input order, most specific checks first; deterministic."""
    findings: list[Finding] = []
    for scan in scans:
        findings += _category_gaps(scan, disclosures, rules)
        findings += _recipient_gaps(scan, disclosures, rules)
        findings += _retention_gap(scan, disclosures)
    if report_unevidenced and scans:
        findings += _unevidenced(scans, disclosures)
    unique = {f.id: f for f in findings}
    return list(unique.values())
