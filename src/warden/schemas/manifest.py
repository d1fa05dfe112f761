"""The analyser manifest: what an analyser consumes, produces, costs and may touch.

The guard decides from manifests alone, before any analyser code is imported.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from warden.schemas._base import SLUG_PATTERN, StrictModel

__all__ = ["DATA_SCHEMAS", "AnalyserManifest", "DataSchemaName", "LlmUse", "Reads"]

DataSchemaName = Literal[
    "document",
    "labelled_passages",
    "transparency_report",
    "runbook_definition",
    "system_scan",
    "findings",
]
"""Names of the data that flows between steps (a step's input must match its producer's output).

- ``document``: a loaded document and its passages (a runbook input).
- ``labelled_passages``: passages with data-practice labels, evidence spans and data categories.
- ``transparency_report``: GDPR Art. 13/14 items present or missing, with findings.
- ``runbook_definition``: a runbook, as drafted by a planner; run by an ``execute_workflow`` step.
- ``system_scan``: personal data and third parties found in one system.
- ``findings``: a list of findings and nothing else.
"""

DATA_SCHEMAS: tuple[str, ...] = DataSchemaName.__args__  # type: ignore[attr-defined]

LlmUse = Literal["never", "optional", "required"]
"""Whether an analyser calls a language model.

- ``never``: pure code; runs offline.
- ``optional``: runs offline, and uses a model when one is configured.
- ``required``: cannot run without a configured model (the guard reports ``model_unavailable``).
"""

Reads = Literal["documents", "systems"]
"""What an analyser reads: only the documents given to the run, or systems of the inventory."""


def _read_only() -> list[Literal["read_only"]]:
    return ["read_only"]


class AnalyserManifest(StrictModel):
    """Declared once per analyser in ``manifest.yaml`` beside its code."""

    name: str = Field(pattern=SLUG_PATTERN)
    version: str = Field(pattern=r"^\d+\.\d+\.\d+$")
    description: str = Field(min_length=1)
    entrypoint: str = Field(
        pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$",
        description="'module:function' called to run the analyser; imported only when it runs.",
    )
    input_schemas: list[DataSchemaName] = Field(
        default_factory=list,
        description="Data the analyser needs, one input each; empty for analysers that read systems.",
    )
    output_schema: DataSchemaName
    uses_llm: LlmUse = "never"
    cost_estimate_usd: float = Field(default=0.0, ge=0, description="Estimated cost of one run.")
    reads: Reads = "documents"
    permissions: list[Literal["read_only"]] = Field(default_factory=_read_only)
    config_schema: dict[str, Any] = Field(
        default_factory=lambda: {"type": "object", "additionalProperties": False},
        description="JSON Schema that a step's `config` must satisfy.",
    )

    @field_validator("config_schema")
    @classmethod
    def _config_schema_is_valid(cls, value: dict[str, Any]) -> dict[str, Any]:
        from jsonschema import Draft202012Validator
        from jsonschema.exceptions import SchemaError

        try:
            Draft202012Validator.check_schema(value)
        except SchemaError as exc:
            raise ValueError(f"config_schema is not a valid JSON Schema: {exc.message}") from exc
        return value
