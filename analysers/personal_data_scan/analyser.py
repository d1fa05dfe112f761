"""Entry point of ``personal_data_scan``: one system of the inventory in, a SystemScan out.

The step's target system (``system:`` in the runbook) arrives as ``ctx.system()``. Its
location is resolved against the policy's folder and must stay inside the tenant's allowed
roots; the connector for its type reads names and a bounded sample; the detectors turn that
into category hits with masked examples, and each hit into an inventory finding.

Scans are bounded because they sample. ``python bench/bench_scan.py --runs 5`` (12 personal-data
columns, default config: 1000 rows per table or file; 2 cores shared with other jobs at load
~15, so wall time is mostly waiting; CPU time is the steadier figure)::

    system             file MiB  median s  cpu s  peak RSS MiB  python peak MiB
    sqlite 10,000 rows       2.1     2.11   0.71            56              0.9
    sqlite 1,000,000       206.3     1.79   0.72            56              0.9
    csv 1,000,000          198.3     1.93   0.81           155              0.9
    parquet 1,000,000       34.3     2.87   0.80           113              0.9

(baseline RSS of a process that only imported the analyser: 54 MiB). A million rows cost what
ten thousand do; the CSV and Parquet peaks are DuckDB's read buffers.
"""

from __future__ import annotations

from typing import Any

from warden_analysers.personal_data_scan.config import ScanConfig, parse_config
from warden_analysers.personal_data_scan.connectors import sample_system
from warden_analysers.personal_data_scan.detect import detect
from warden_analysers.personal_data_scan.detectors.registry import build_detectors
from warden_analysers.personal_data_scan.findings import ANALYSER, to_finding
from warden_analysers.personal_data_scan.locate import resolve_location, scan_error
from warden_analysers.personal_data_scan.sample import SystemSample

from warden.analyser import AnalyserContext
from warden.errors import LoadError
from warden.schemas.policy import System
from warden.schemas.scan import SystemScan

__all__ = ["ANALYSER", "VERSION", "run", "scan"]

VERSION = "0.1.0"


def scan(system: System, ctx: AnalyserContext, config: ScanConfig) -> SystemScan:
    """Scan one system: locate it, sample it, detect, and report (nothing raw leaves here)."""
    path = resolve_location(system, ctx.base_dir, ctx.allowed_roots)
    try:
        sampled = sample_system(system, path, config, ctx.allowed_roots)
    except OSError:
        raise scan_error(
            "system_unreadable",
            "the system could not be read (permission denied or an I/O error)",
            system,
            "grant read permission on the system's files and check the disk",
        ) from None
    if sampled.rows_sampled == 0:
        raise scan_error(
            "empty_system",
            f"no rows or log lines to sample in {sampled.tables} table(s) or file(s)",
            system,
            "scan the system once it holds data, or remove it from the runbook",
        )
    hits = detect(sampled.columns, build_detectors(config.phone_regions), config.min_share)
    return SystemScan(
        system_id=system.id,
        system_type=system.type,
        scanner=f"{ANALYSER}@{VERSION}",
        categories=[h.category for h in hits],
        stats=_stats(sampled, config),
        findings=[to_finding(h, system.id) for h in hits],
    )


def _stats(sampled: SystemSample, config: ScanConfig) -> dict[str, Any]:
    return {
        "tables": sampled.tables,
        "tables_skipped": sampled.tables_skipped,
        "truncated": sampled.tables_skipped > 0,
        "columns": len(sampled.columns),
        "rows_sampled": sampled.rows_sampled,
        "values_sampled": sum(len(c.values) for c in sampled.columns),
        "sample_size": config.sample_size,
        "notes": sampled.notes[:50],
        **sampled.extra,
    }


def run(inputs: dict[str, Any], config: dict[str, Any], ctx: AnalyserContext | None = None) -> dict[str, Any]:
    """Analyser contract: no inputs; the step's system is ``ctx.system()``; returns system_scan."""
    parsed = parse_config(config)
    if ctx is None:
        raise LoadError(
            "personal_data_scan needs the run's context to know which system to scan",
            source="context",
            code="no_system",
            fix="run it as a runbook step with 'system:' set",
        )
    system = ctx.system()
    if system is None:
        wanted = f"'{ctx.system_id}'" if ctx.system_id else "no system"
        raise LoadError(
            f"the step names {wanted}, which is not in tenant '{ctx.tenant}' inventory",
            source="context",
            code="no_system",
            fix="set the step's 'system:' to one of the tenant's system ids",
        )
    return scan(system, ctx, parsed).model_dump(mode="json")
