"""What an analyser's output must look like, by the data schema its manifest declares.

The executor checks every output before it is stored, so a broken or hostile analyser cannot
hand the next step (or the findings table) data that breaks its contract.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from warden.schemas._base import StrictModel
from warden.schemas.document import Document
from warden.schemas.finding import Finding
from warden.schemas.practices import LabelledPassages, TransparencyReport
from warden.schemas.scan import SystemScan

__all__ = ["FindingsOutput", "OutputContractError", "check_output"]


class FindingsOutput(StrictModel):
    """The ``findings`` schema: a list of findings and nothing else."""

    findings: list[Finding]


OUTPUT_MODELS: dict[str, type[BaseModel]] = {
    "document": Document,
    "labelled_passages": LabelledPassages,
    "transparency_report": TransparencyReport,
    "system_scan": SystemScan,
    "findings": FindingsOutput,
}
"""``runbook_definition`` is absent on purpose: a drafted runbook goes through the guard instead."""


class OutputContractError(ValueError):
    """An analyser returned data that does not match its declared output schema."""


def check_output(schema: str, output: Any) -> list[Finding]:
    """Validate `output` against `schema`; return the findings it carries (possibly none)."""
    model = OUTPUT_MODELS.get(schema)
    if model is None:
        return []
    try:
        parsed = model.model_validate(output)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "<top>"
        raise OutputContractError(
            f"output does not match '{schema}' ({exc.error_count()} problem(s); "
            f"first at {where}: {first['msg']})"
        ) from None
    return list(getattr(parsed, "findings", []))
