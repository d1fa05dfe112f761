"""The shape of the rules files, validated at load so a typo in a rule fails loudly, not silently."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from warden.schemas._base import StrictModel
from warden.schemas.practices import Label

__all__ = ["CategoryLexicon", "CategoryTerm", "Rule", "RulesFile", "Shape"]

RULE_ID = r"^[a-z_]+\.[a-z0-9_-]+$"

Shape = Literal["any", "body", "heading"]
"""Which passages a rule applies to.

- ``body``: sentences and list items (the default).
- ``heading``: short title-like passages; their own words are the only signal.
- ``any``: both.
"""


def _check_regex(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression: {exc}") from exc
    return value


class Rule(StrictModel):
    """One cue: phrasing in the text, a section heading, or both, that discloses a label."""

    id: str = Field(pattern=RULE_ID, description="'<label>.<name>', unique across files.")
    label: Label
    text: str | None = Field(default=None, description="Regex over the passage text.")
    under: list[str] = Field(
        default_factory=list, description="Heading cue names; the section must match one."
    )
    not_under: list[str] = Field(
        default_factory=list, description="Heading cue names; the section must match none."
    )
    unless: str | None = Field(default=None, description="Regex over the text that vetoes.")
    yield_to: list[Label] = Field(
        default_factory=list,
        description="Labels that, when the passage carries one from another rule, veto this rule's hit "
        "(a broad cue that is about something else when a stronger topic is present).",
    )
    shape: Shape = "body"
    confidence: float = Field(default=0.8, gt=0, le=1)

    # ``text`` and ``unless`` may name macros ({data}): the loader compiles them once expanded
    # and reports a bad one with its file and rule id

    @model_validator(mode="after")
    def _has_a_cue(self) -> Rule:
        if self.text is None and not self.under:
            raise ValueError(f"rule '{self.id}' needs 'text', 'under', or both")
        if not self.id.startswith(f"{self.label}."):
            raise ValueError(f"rule '{self.id}' must be named '{self.label}.<name>'")
        return self


class RulesFile(StrictModel):
    """A file of heading cues and rules; several files are merged into one rule set."""

    version: Literal[1] = 1
    headings: dict[str, str] = Field(
        default_factory=dict, description="Heading cue name -> regex over one heading."
    )
    rules: list[Rule] = Field(default_factory=list)

    @field_validator("headings")
    @classmethod
    def _headings_named(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not re.fullmatch(r"[a-z_]+", name):
                raise ValueError(f"heading cue name '{name}' must be lower-case words with _")
        return value  # the loader compiles the patterns, once macros are expanded


class CategoryTerm(StrictModel):
    """Words naming a category of personal data, and the fideslang key they map to."""

    key: str = Field(pattern=r"^user(\.[a-z_]+)*$")
    text: str = Field(description="Regex over the passage text.")

    _check_text = field_validator("text")(_check_regex)


class CategoryLexicon(StrictModel):
    """The data-category lexicon file."""

    version: Literal[1] = 1
    terms: list[CategoryTerm] = Field(min_length=1)
