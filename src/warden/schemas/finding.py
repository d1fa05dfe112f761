"""Findings: what an analyser concluded, with the evidence a reviewer needs to check it."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from warden.schemas._base import StrictModel

__all__ = ["Evidence", "Finding", "Severity"]

Severity = Literal["info", "low", "medium", "high", "critical"]
"""How much a finding matters.

- ``info``: context for the analyst; nothing to fix.
- ``low``: a gap worth fixing when the notice is next revised.
- ``medium``: a transparency or disclosure gap a regulator would expect fixed.
- ``high``: a missing mandatory disclosure or undisclosed processing of personal data.
- ``critical``: special-category or unlawful processing with no disclosure at all.
"""


class Evidence(StrictModel):
    """Where a finding comes from: a document passage or a location in a system.

    Quotes from systems are masked by the analyser that produced them; raw personal data
    never reaches a finding.
    """

    document_id: str | None = None
    passage_id: str | None = None
    page: int | None = Field(default=None, ge=1)
    start: int | None = Field(default=None, ge=0)
    end: int | None = Field(default=None, ge=0)
    quote: str | None = Field(default=None, max_length=2000)
    system_id: str | None = None
    location: str | None = Field(default=None, description="Table.column, file:line, ...")


class Finding(StrictModel):
    """One conclusion of one analyser, keyed so a retried step upserts rather than duplicates."""

    id: str = Field(description="Deterministic: hash of analyser, run-independent key fields.")
    analyser: str
    code: str = Field(description="Stable machine code, e.g. 'gdpr.missing.retention'.")
    title: str
    severity: Severity
    category: str = Field(description="Grouping for reports, e.g. 'transparency'.")
    message: str
    article: str | None = Field(default=None, description="Legal reference, e.g. 'GDPR Art. 13(2)(a)'.")
    data_category: str | None = Field(default=None, description="fideslang key, e.g. user.contact.email.")
    system_id: str | None = None
    evidence: list[Evidence] = Field(default_factory=list)
    details: dict[str, Any] = Field(default_factory=dict)
