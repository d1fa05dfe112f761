"""The fast path behind ``warden extract --passages``: JSONL rows in, label names out.

No pydantic models per row: a row is checked by hand so one bad line is reported by number.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from warden_analysers.policy_practices.engine import default_labeller
from warden_analysers.policy_practices.sequence import LeadInTracker

from warden.safeload import is_unicode

__all__ = ["BadRow", "PassageRow", "label_rows", "parse_rows"]


class BadRow(ValueError):
    """A row of the passages file that is not {"id": str, "text": str, "context": [str]}."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


@dataclass(frozen=True, slots=True)
class PassageRow:
    """One passage to label, with the headings it sits under."""

    id: str
    text: str
    context: tuple[str, ...]


def parse_rows(lines: Iterable[str]) -> Iterator[PassageRow]:
    """Parses JSONL rows; blank lines are skipped, anything malformed raises BadRow."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BadRow(number, f"not valid JSON ({exc.msg})") from None
        except RecursionError:
            raise BadRow(number, "not valid JSON (nested too deeply)") from None
        except ValueError as exc:  # e.g. a number longer than Python's integer digit limit
            raise BadRow(number, f"not valid JSON ({str(exc).split(':')[0]})") from None
        if not isinstance(row, dict):
            raise BadRow(number, "expected a JSON object")
        ident, text, context = row.get("id"), row.get("text"), row.get("context", [])
        if not isinstance(ident, str) or not ident:
            raise BadRow(number, "'id' must be a non-empty string")
        if not isinstance(text, str):
            raise BadRow(number, "'text' must be a string")
        if context is None:
            context = []
        if not isinstance(context, list) or not all(isinstance(h, str) for h in context):
            raise BadRow(number, "'context' must be a list of heading strings")
        if not all(is_unicode(s) for s in (ident, text, *context)):
            raise BadRow(number, "contains a lone surrogate escape (\\ud800-\\udfff), not Unicode text")
        yield PassageRow(ident, text, tuple(context))


def label_rows(rows: Iterable[PassageRow], min_confidence: float = 0.0) -> Iterator[tuple[str, list[str]]]:
    """Labels rows in file order, which is reading order: list items see their lead-in."""
    labeller, tracker = default_labeller(), LeadInTracker()
    for row in rows:
        lead_in = tracker.next(row.text, row.context)
        hits = labeller.label(row.text, row.context, lead_in, min_confidence)
        yield row.id, sorted(hit.label for hit in hits)
