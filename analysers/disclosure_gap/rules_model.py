"""The comparison rules, read from ``rules.yaml`` and validated once."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator

from warden.schemas._base import StrictModel
from warden.schemas.finding import Severity
from warden.schemas.scan import RecipientKind

__all__ = ["GapRules", "load_rules"]

RULES_FILE = Path(__file__).parent / "rules.yaml"


def _compiled(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression: {exc}") from exc
    return value


class GapRules(StrictModel):
    """What counts as disclosing a recipient, a transfer or an Art. 9 condition."""

    version: int = 1
    recipient_kinds: dict[RecipientKind, str]
    art9_subject: str
    art9_condition: str
    home_countries: list[str] = Field(min_length=1)
    transfer_general: str
    country_names: dict[str, str]
    severity_by_prefix: dict[str, Severity]
    special_categories: list[str]

    @field_validator("art9_subject", "art9_condition", "transfer_general")
    @classmethod
    def _pattern(cls, value: str) -> str:
        return _compiled(value)

    @field_validator("recipient_kinds", "country_names")
    @classmethod
    def _patterns(cls, value: dict[str, str]) -> dict[str, str]:
        for pattern in value.values():
            _compiled(pattern)
        return value

    def pattern(self, text: str) -> re.Pattern[str]:
        return _regex(text)

    def severity_of(self, key: str) -> Severity:
        """The severity of the longest matching key prefix."""
        best, severity = -1, "high"
        for prefix, value in self.severity_by_prefix.items():
            if (key == prefix or key.startswith(prefix + ".")) and len(prefix) > best:
                best, severity = len(prefix), value
        return severity  # type: ignore[return-value]

    def is_special(self, key: str) -> bool:
        return any(key == p or key.startswith(p + ".") for p in self.special_categories)


@lru_cache(maxsize=256)
def _regex(text: str) -> re.Pattern[str]:
    return re.compile(text, re.IGNORECASE)


@lru_cache(maxsize=1)
def load_rules() -> GapRules:
    """Parsed with the same bounded loader as untrusted input: a broken edit fails with its line."""
    from warden.safeload import load_model, parse_text, read_text

    return load_model(GapRules, parse_text(read_text(RULES_FILE), str(RULES_FILE)), what="rules file")
