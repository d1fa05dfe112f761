"""The rule engine: runs the compiled rules over one passage and its section headings.

Kept free of pydantic models on the hot path: ``warden extract --passages`` labels thousands
of passages a second, and the analyser wraps the plain results in schema models afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from re import IGNORECASE, Match, Pattern

from warden_analysers.policy_practices.loader import CompiledRule, RuleSet, load_rules
from warden_analysers.policy_practices.prefilter import same_length_lower, satisfied
from warden_analysers.policy_practices.shape import is_heading_like

__all__ = ["Evidence", "Hit", "Labeller", "Section", "default_labeller"]

LEAD_IN = -1
"""``heading_index`` of evidence found in the sentence that introduced a list."""


@dataclass(frozen=True, slots=True)
class Evidence:
    """Span behind a label: in the text, in heading ``heading_index``, or in the lead-in."""

    rule: str
    source: str
    heading_index: int | None
    start: int
    end: int
    quote: str


@dataclass(frozen=True, slots=True)
class Hit:
    """One label of one passage."""

    label: str
    confidence: float
    evidence: Evidence


@dataclass(frozen=True, slots=True)
class Section:
    """What the headings say about the section a passage sits in."""

    cues: frozenset[str]
    heading_index: int | None
    heading: str
    spans: dict[str, tuple[int, int]]


NO_SECTION = Section(frozenset(), None, "", {})


def _first_match(
    pattern: Pattern[str], starts: tuple[str, ...], source: str, lower: str
) -> Match[str] | None:
    """The leftmost match, trying only where a match can start (``starts`` in ``lower``).

    Same result as ``pattern.search(source)``: no match can begin anywhere else, and the
    positions are tried in text order. Much quicker on long passages, where ``search`` tries
    every position with every alternative."""
    positions: list[int] = []
    for literal in starts:
        at = lower.find(literal)
        while at != -1:
            positions.append(at)
            at = lower.find(literal, at + 1)
    if not positions:
        return None
    if len(positions) > 1:
        positions.sort()
    match = pattern.match
    for at in positions:
        found = match(source, at)
        if found is not None:
            return found
    return None


class Labeller:
    """Applies a rule set; the strongest rule per label wins and supplies the evidence."""

    def __init__(self, rules: RuleSet) -> None:
        self._headings = rules.headings
        ordered = sorted(rules.rules, key=lambda r: -r.confidence)
        self._body = tuple(r for r in ordered if r.shape in ("body", "any"))
        self._title = tuple(r for r in ordered if r.shape in ("heading", "any"))
        self._cues = lru_cache(maxsize=8192)(self._cues_of)
        self._section = lru_cache(maxsize=8192)(self._section_of)

    def _cues_of(self, heading: str) -> tuple[tuple[str, int, int], ...]:
        found = []
        lower = same_length_lower(heading)
        for name, pattern in self._headings.items():
            match = pattern.search(heading if pattern.flags & IGNORECASE else lower)
            if match:
                found.append((name, match.start(), match.end()))
        return tuple(found)

    def _section_of(self, context: tuple[str, ...], lead_in: str | None) -> Section:
        """The innermost heading (or list lead-in) that carries any cue names the section."""
        candidates: list[tuple[int | None, str]] = []
        if lead_in:
            candidates.append((LEAD_IN, lead_in))
        candidates += [(i, context[i]) for i in range(len(context) - 1, -1, -1)]
        for index, heading in candidates:
            cues = self._cues(heading)
            if cues:
                return Section(
                    frozenset(name for name, _, _ in cues),
                    index,
                    heading,
                    {name: (start, end) for name, start, end in cues},
                )
        return NO_SECTION

    def section(self, context: tuple[str, ...], lead_in: str | None = None) -> Section:
        """Cached: passages of one section share their headings."""
        return self._section(context, lead_in)

    def label(
        self,
        text: str,
        context: tuple[str, ...] = (),
        lead_in: str | None = None,
        min_confidence: float = 0.0,
    ) -> list[Hit]:
        """Labels one passage; ``lead_in`` is the sentence ending in ':' that opened its list."""
        # a title-like passage is matched by title rules only, but still sits in a section:
        # "Usage Data" under "Information we collect" names a category of data
        rules = self._title if is_heading_like(text) else self._body
        section = self.section(context, lead_in)
        best: dict[str, Hit] = {}
        # hits of rules that yield to other labels, settled once every rule has run
        pending: dict[str, tuple[Hit, frozenset[str]]] = {}
        lower = same_length_lower(text)
        for rule in rules:
            if rule.label in best or rule.confidence < min_confidence:
                continue
            if rule.yield_to and rule.label in pending:
                continue
            if rule.under and not (rule.under & section.cues):
                continue  # the cheapest tests first: most rules with a section fail here
            if rule.not_under and rule.not_under & section.cues:
                continue
            if rule.needs is not None and not satisfied(rule.needs, lower, text):
                continue
            hit = self._apply(rule, text, lower, section)
            if hit is not None:
                if rule.yield_to:
                    pending[rule.label] = (hit, rule.yield_to)
                else:
                    best[rule.label] = hit
        if pending:
            present = best.keys() | pending.keys()
            for label, (hit, yield_to) in pending.items():
                if label in best:
                    if hit.confidence > best[label].confidence:
                        best[label] = hit  # the stronger cue supplies the evidence
                elif not (yield_to & (present - {label})):
                    best[label] = hit
        return list(best.values())

    @staticmethod
    def _apply(rule: CompiledRule, text: str, lower: str, section: Section) -> Hit | None:
        """``lower`` is ``text`` lower-cased with the same length, for the uncased regexes.
        The caller has checked the rule's section cues (``under``, ``not_under``)."""
        match = None
        if rule.text is not None:
            source = text if rule.text_cased else lower
            if rule.starts is None:
                match = rule.text.search(source)
            else:
                match = _first_match(rule.text, rule.starts, source, lower)
            if match is None:
                return None
        if rule.unless is not None and rule.unless.search(text if rule.unless_cased else lower):
            return None
        if match is not None:
            start, end = match.span()
            evidence = Evidence(rule.id, "text", None, start, end, text[start:end])
        else:
            cue = next(iter(sorted(rule.under & section.cues)))
            start, end = section.spans[cue]
            source = "lead_in" if section.heading_index == LEAD_IN else "heading"
            index = None if section.heading_index == LEAD_IN else section.heading_index
            evidence = Evidence(rule.id, source, index, start, end, section.heading[start:end])
        return Hit(rule.label, rule.confidence, evidence)


@lru_cache(maxsize=1)
def default_labeller() -> Labeller:
    """The labeller over the shipped rules, built once per process."""
    return Labeller(load_rules())
