"""The catalogue of Art. 13/14 items, read from ``items.yaml`` and validated once."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from warden.errors import LoadError
from warden.schemas._base import StrictModel
from warden.schemas.finding import Severity
from warden.schemas.practices import GDPR_ITEMS, ArticleScope, GdprItem, Label

__all__ = ["Catalogue", "Escalation", "ItemSpec", "load_catalogue"]

ITEMS_FILE = Path(__file__).parent / "items.yaml"
ARTICLE_POINT = r"^1[34]\(\d\)\([a-g]\)$"


class Escalation(StrictModel):
    """Raises a conditional item's severity when the notice shows its condition holds."""

    label: Label = Field(description="Passages with this label are searched...")
    text: str = Field(description="...for this regex; a hit means the condition holds.")
    severity: Severity

    @field_validator("text")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from exc
        return value


class ItemSpec(StrictModel):
    """One transparency item: where the law asks for it and how much a gap matters."""

    item: GdprItem
    title: str = Field(min_length=1)
    art13: str | None = Field(default=None, pattern=ARTICLE_POINT)
    art14: str | None = Field(default=None, pattern=ARTICLE_POINT)
    severity: Severity
    conditional: bool = False
    why: str = Field(min_length=1)
    raise_when: Escalation | None = None

    @model_validator(mode="after")
    def _has_an_article(self) -> ItemSpec:
        if self.art13 is None and self.art14 is None:
            raise ValueError(f"item '{self.item}' needs art13, art14 or both")
        if self.raise_when is not None and not self.conditional:
            raise ValueError(f"item '{self.item}': raise_when only makes sense on a conditional item")
        return self

    def applies(self, scope: ArticleScope) -> bool:
        """Whether the item is owed under the chosen article(s)."""
        return scope == "both" or (self.art13 if scope == "13" else self.art14) is not None

    def article(self, scope: ArticleScope) -> str:
        """The legal reference, e.g. 'GDPR Art. 13(1)(a), 14(1)(a)'."""
        points = [p for s, p in (("13", self.art13), ("14", self.art14)) if p and scope in (s, "both")]
        return "GDPR Art. " + ", ".join(points)


class Catalogue(StrictModel):
    """Every item, each exactly once."""

    version: Literal[1] = 1
    items: list[ItemSpec]

    @model_validator(mode="after")
    def _complete(self) -> Catalogue:
        names = [spec.item for spec in self.items]
        if sorted(names) != sorted(GDPR_ITEMS):
            missing = sorted(set(GDPR_ITEMS) - set(names))
            twice = sorted({n for n in names if names.count(n) > 1})
            raise ValueError(f"catalogue must list every item once (missing {missing}, twice {twice})")
        return self


@lru_cache(maxsize=2)
def load_catalogue(path: Path = ITEMS_FILE) -> Catalogue:
    """Validated at first use; a broken catalogue is a clear error, not a wrong report."""
    from warden_analysers.policy_practices.loader import read_yaml

    try:
        return Catalogue.model_validate(read_yaml(path))
    except ValidationError as exc:
        raise LoadError(f"invalid transparency catalogue:\n{exc}", source=str(path)) from exc
