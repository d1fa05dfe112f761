"""Finds the categories of personal data a passage names and maps them to fideslang keys."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from warden_analysers.policy_practices.loader import FLAGS, load_lexicon
from warden_analysers.policy_practices.prefilter import (
    Needs,
    needs_of,
    required_literals,
    same_length_lower,
    satisfied,
)

__all__ = ["CategoryMatcher", "Mention", "default_matcher"]


@dataclass(frozen=True, slots=True)
class Mention:
    """One data-category term found in a passage."""

    key: str
    start: int
    end: int
    quote: str


class CategoryMatcher:
    """Runs the lexicon terms in file order; earlier (more specific) terms claim spans first.

    A term runs only on text holding the words its regex cannot match without (the rules'
    prefilter): most passages name few categories, and a failing search over every position
    cost ~10 ms per kilobyte of text with all terms, most of a document's labelling time."""

    def __init__(self, terms: list[tuple[str, str]], *, prefilter: bool = True) -> None:
        """``prefilter=False`` runs every term on every passage: the reference the prefilter is
        measured and tested against."""
        self._terms = [
            (key, re.compile(pattern, FLAGS), _needs(pattern) if prefilter else None)
            for key, pattern in terms
        ]

    def find(self, text: str) -> list[Mention]:
        """Mentions in text order, no two overlapping, one per (key, quote)."""
        claimed: list[tuple[int, int]] = []
        found: list[Mention] = []
        seen: set[tuple[str, str]] = set()
        lower = same_length_lower(text)
        for key, pattern, needs in self._terms:
            if needs is not None and not satisfied(needs, lower, text):
                continue
            for match in pattern.finditer(text):
                start, end = match.span()
                if any(start < e and s < end for s, e in claimed):
                    continue
                claimed.append((start, end))
                quote = text[start:end]
                if (key, quote.lower()) not in seen:
                    seen.add((key, quote.lower()))
                    found.append(Mention(key, start, end, quote))
        return sorted(found, key=lambda m: m.start)


def _needs(pattern: str) -> Needs | None:
    return needs_of(required_literals(pattern, FLAGS))


@lru_cache(maxsize=1)
def default_matcher() -> CategoryMatcher:
    """The matcher over the shipped lexicon, built once per process."""
    return CategoryMatcher([(term.key, term.text) for term in load_lexicon().terms])
