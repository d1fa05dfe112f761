"""Entry point of ``third_party_scan``: a source system in, a system scan of its recipients out."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from warden_analysers.third_party_scan.catalogue import RecipientSpec
from warden_analysers.third_party_scan.dispatch import ScannerKind, scan_file, scanner_for, wanted
from warden_analysers.third_party_scan.index import RecipientIndex, default_index
from warden_analysers.third_party_scan.target import source_root
from warden_analysers.third_party_scan.walk import Walk

from warden.analyser import AnalyserContext
from warden.errors import LoadError
from warden.schemas.finding import Evidence, Finding
from warden.schemas.scan import RecipientHit, SystemScan

__all__ = ["ANALYSER", "DEFAULTS", "EEA", "VERSION", "finding_id", "run", "scan"]

ANALYSER = "third_party_scan"
VERSION = "0.1.0"
DEFAULTS = {"max_files": 5000, "max_file_bytes": 1_048_576}
EEA = frozenset(
    {
        *("AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE"),
        *("IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE"),
        *("IS", "LI", "NO"),
    }
)
"""The EU member states plus Iceland, Liechtenstein and Norway: data elsewhere is transferred."""


_RANK: dict[ScannerKind, int] = {"python": 0, "js": 0, "html": 0, "config": 1, "manifest": 2}
"""Which evidence a finding shows first: code that uses the SDK beats config, config beats a manifest."""


def finding_id(system_id: str, recipient: str) -> str:
    """Deterministic: the same recipient in the same system always gets the same id."""
    digest = hashlib.sha256(f"{ANALYSER}\x1f{system_id}\x1f{recipient}".encode()).hexdigest()
    return f"tps-{digest[:20]}"


@dataclass
class _Seen:
    """Evidence of one recipient so far: where it first appeared and how often."""

    location: str
    evidence: str
    rank: int
    occurrences: int = 0


def _config(config: dict[str, Any]) -> dict[str, int]:
    unknown = set(config) - set(DEFAULTS)
    if unknown:
        raise LoadError(f"unknown config keys {sorted(unknown)}", source="config", code="schema")
    out = {**DEFAULTS, **config}
    for key, value in out.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise LoadError(f"{key} must be a positive integer", source="config", code="schema")
    return out


def scan(
    system_id: str, system_type: str, root: Path, config: dict[str, Any], index: RecipientIndex
) -> SystemScan:
    """Walk `root` and gather every recipient's first evidence and occurrence count."""
    limits = _config(config)
    walk = Walk(root, wanted, limits["max_files"], limits["max_file_bytes"])
    seen: dict[str, _Seen] = {}
    fallbacks = 0
    for source in walk.files():
        hits, parsed = scan_file(source.name, source.text, index)
        fallbacks += not parsed
        rank = _RANK[scanner_for(source.name) or "config"]
        for hit in sorted(hits, key=lambda h: h.line):
            location = f"{source.rel}:{hit.line}"
            entry = seen.setdefault(hit.recipient, _Seen(location, hit.evidence, rank))
            if rank < entry.rank:
                entry.location, entry.evidence, entry.rank = location, hit.evidence, rank
            entry.occurrences += 1
    recipients = [_recipient(index.specs[name], entry) for name, entry in sorted(seen.items())]
    return SystemScan(
        system_id=system_id,
        system_type=system_type,
        scanner=f"{ANALYSER}@{VERSION}",
        recipients=recipients,
        stats={
            "files_scanned": walk.scanned,
            "files_skipped": sum(walk.skipped.values()),
            "skipped": dict(sorted(walk.skipped.items())),
            "files_ignored": walk.ignored,
            "files_decoded_lossily": walk.lossy,
            "python_parse_fallbacks": fallbacks,
            "truncated": walk.truncated,
            **limits,
        },
        findings=[_finding(system_id, hit) for hit in recipients],
    )


def _recipient(spec: RecipientSpec, seen: _Seen) -> RecipientHit:
    return RecipientHit(
        recipient=spec.name,
        kind=spec.kind,
        countries=list(spec.countries),
        location=seen.location,
        evidence=seen.evidence,
        data_categories=list(spec.data_categories),
        occurrences=seen.occurrences,
    )


def _finding(system_id: str, hit: RecipientHit) -> Finding:
    abroad = [c for c in hit.countries if c not in EEA]
    message = (
        f"Code in '{system_id}' uses {hit.recipient} ({hit.kind.replace('_', ' ')}): "
        f"first at {hit.location}, {hit.occurrences} occurrence{'s' if hit.occurrences != 1 else ''} in all."
    )
    if abroad:
        message += (
            f" It processes data in {', '.join(abroad)}, outside the EEA: a transfer to a third country."
        )
    return Finding(
        id=finding_id(system_id, hit.recipient),
        analyser=ANALYSER,
        code="scan.third_party",
        title=f"Third party in code: {hit.recipient}",
        severity="info",
        category="recipients",
        message=message,
        article="GDPR Art. 13(1)(e)-(f), 14(1)(e)-(f)",
        system_id=system_id,
        evidence=[Evidence(system_id=system_id, location=hit.location, quote=hit.evidence)],
        details={
            "recipient": hit.recipient,
            "kind": hit.kind,
            "countries": hit.countries,
            "occurrences": hit.occurrences,
            "transfer": bool(abroad),
            "data_categories": hit.data_categories,
        },
    )


def run(inputs: dict[str, Any], config: dict[str, Any], ctx: AnalyserContext | None = None) -> dict[str, Any]:
    """Analyser contract: no inputs; the step's ``system:`` names the source folder to scan."""
    system, root = source_root(ctx)
    return scan(system.id, system.type, root, config, default_index()).model_dump(mode="json")
