"""Entry point of ``disclosure_gap``: one labelled notice and system scans in, gap findings out."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from warden_analysers.disclosure_gap.compare import compare
from warden_analysers.disclosure_gap.notice import read_disclosures
from warden_analysers.disclosure_gap.rules_model import load_rules

from warden.errors import LoadError
from warden.schemas.practices import LabelledPassages
from warden.schemas.scan import SystemScan

__all__ = ["run"]


def _split(inputs: dict[str, Any]) -> tuple[LabelledPassages, list[SystemScan]]:
    """Tell the notice from the scans by shape, and validate each against its contract."""
    notices, scans = [], []
    for name, value in inputs.items():
        try:
            if isinstance(value, dict) and "passages" in value:
                notices.append(LabelledPassages.model_validate(value))
            elif isinstance(value, dict) and "system_id" in value:
                scans.append(SystemScan.model_validate(value))
            else:
                raise LoadError(
                    f"input '{name}' is neither labelled passages nor a system scan",
                    code="bad_input",
                    fix="feed disclosure_gap from policy_practices and system-scanning steps",
                )
        except ValidationError as exc:
            raise LoadError(f"input '{name}' does not match its contract:\n{exc}", code="bad_input") from exc
    if len(notices) != 1:
        raise LoadError(
            f"disclosure_gap needs exactly one labelled notice, got {len(notices)}",
            code="bad_input",
            fix="give one policy_practices step as input",
        )
    return notices[0], scans


def run(inputs: dict[str, Any], config: dict[str, Any], ctx: object | None = None) -> dict[str, Any]:
    """Analyser contract: returns ``{"findings": [...]}`` (the ``findings`` schema)."""
    labelled, scans = _split(inputs)
    rules = load_rules()
    findings = compare(
        read_disclosures(labelled, rules),
        scans,
        rules,
        report_unevidenced=bool(config.get("report_unevidenced", True)),
    )
    return {"findings": [f.model_dump(mode="json") for f in findings]}
