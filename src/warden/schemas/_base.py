"""The strict base every contract inherits: unknown fields are errors, not silently dropped."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["SLUG_PATTERN", "StrictModel"]

# Names of runbooks, steps, analysers, tenants and systems: lower-case words joined by - or _.
SLUG_PATTERN = r"^[a-z][a-z0-9_-]{0,63}$"


class StrictModel(BaseModel):
    """Forbids extra keys so a typo in a runbook is reported instead of ignored."""

    model_config = ConfigDict(extra="forbid", frozen=False, populate_by_name=True)
