"""Name evidence: what a column, field or key is called, normalised to lower snake case.

``firstName``, ``First Name`` and ``first-name`` all become ``first_name``, so one pattern per
concept covers the spellings schemas use.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["NameRule", "normalise"]

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NON_WORD = re.compile(r"[^a-z0-9]+")


def normalise(name: str) -> str:
    """``firstName`` / ``First-Name`` -> ``first_name``."""
    return _NON_WORD.sub("_", _CAMEL.sub("_", name).lower()).strip("_")


@dataclass(frozen=True)
class NameRule:
    """A column name pattern, optionally only in tables whose name says they hold people.

    ``pattern`` is matched (``re.search``) against the normalised column name with ``_`` on
    both sides, so ``_email_`` matches ``email``, ``user_email`` and ``email_address``.
    ``unless`` vetoes names that share a word (``ip_address`` is no postal address).
    """

    pattern: str
    unless: str | None = None
    table: str | None = None

    def matches(self, column: str, table: str) -> bool:
        name = f"_{normalise(column)}_"
        if not re.search(self.pattern, name):
            return False
        if self.unless and re.search(self.unless, name):
            return False
        return not self.table or bool(re.search(self.table, f"_{normalise(table)}_"))
