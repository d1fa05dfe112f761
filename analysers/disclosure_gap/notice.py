"""What the notice discloses, read from its labelled passages: the notice side of the comparison."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from warden_analysers.disclosure_gap.rules_model import GapRules

from warden.schemas.practices import LabelledPassage, LabelledPassages

__all__ = ["Disclosures", "covers", "read_disclosures"]


def covers(disclosed: str, found: str) -> bool:
    """A disclosed category covers a found one when either is an ancestor of (or is) the other.

    "contact data" (user.contact) covers an e-mail column; an e-mail disclosure covers a column a
    scanner could only place as generic contact data. Siblings do not cover each other.
    """
    return found == disclosed or found.startswith(disclosed + ".") or disclosed.startswith(found + ".")


@dataclass
class Disclosures:
    """The notice's disclosures, each with the passages that make them (for citations)."""

    document_id: str
    categories: dict[str, list[str]] = field(default_factory=dict)
    recipient_passages: list[LabelledPassage] = field(default_factory=list)
    transfer_passages: list[LabelledPassage] = field(default_factory=list)
    retention_passages: list[LabelledPassage] = field(default_factory=list)
    art9_passages: list[LabelledPassage] = field(default_factory=list)
    all_passages: list[LabelledPassage] = field(default_factory=list)

    def category_passages(self, key: str) -> list[str]:
        """Passage ids disclosing `key` (or a category that covers it); empty when undisclosed."""
        return sorted({pid for k, ids in self.categories.items() if covers(k, key) for pid in ids})

    def names(self, name: str, aliases: list[str], rules: GapRules) -> str | None:
        """Id of a passage naming the recipient, or None."""
        words = [name, *aliases]
        pattern = rules.pattern("|".join(rf"\b{re.escape(w)}\b" for w in words if w))
        return self._first(pattern, self.all_passages)

    def names_kind(self, kind: str, rules: GapRules) -> str | None:
        """Id of a recipients passage naming the recipient's kind, or None."""
        return self._first(rules.pattern(rules.recipient_kinds[kind]), self.recipient_passages)

    def transfer_to(self, country: str, rules: GapRules) -> str | None:
        """Id of a transfer passage that covers `country` (by name or in general), or None."""
        wanted = [rules.transfer_general]
        if country in rules.country_names:
            wanted.append(rules.country_names[country])
        return self._first(rules.pattern("|".join(f"(?:{w})" for w in wanted)), self.transfer_passages)

    @staticmethod
    def _first(pattern: re.Pattern[str], passages: list[LabelledPassage]) -> str | None:
        return next((p.id for p in passages if pattern.search(p.text)), None)


def read_disclosures(labelled: LabelledPassages, rules: GapRules) -> Disclosures:
    """Collect the disclosures from every passage; headings count as part of the passage."""
    found = Disclosures(document_id=labelled.document_id, all_passages=list(labelled.passages))
    subject, condition = rules.pattern(rules.art9_subject), rules.pattern(rules.art9_condition)
    for passage in labelled.passages:
        names = set(passage.label_names())
        for mention in passage.data_categories:
            found.categories.setdefault(mention.key, []).append(passage.id)
        if "recipients" in names or "international_transfer" in names:
            found.recipient_passages.append(passage)
        if "international_transfer" in names:
            found.transfer_passages.append(passage)
        if "retention" in names:
            found.retention_passages.append(passage)
        if subject.search(passage.text) and condition.search(passage.text):
            found.art9_passages.append(passage)
    return found
