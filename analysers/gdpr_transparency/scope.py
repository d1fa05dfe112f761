"""Which article(s) a notice is checked against, decided from what the notice says.

Art. 13 applies to data collected from the person, Art. 14 to data obtained from someone else.
A notice that only describes what the person gives and what their use of the service records
is not asked for the Art. 14-only items (data categories, source), and the reverse; a notice
that shows both, or neither, is checked against both. The cues are data (``scope.yaml``), and
every decision carries the sentences that made it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator
from warden_analysers.policy_practices.quotes import clean_quote, sentence_span

from warden.errors import LoadError
from warden.schemas._base import StrictModel
from warden.schemas.practices import (
    ArticleScope,
    Label,
    LabelledPassages,
    ScopeDecision,
    ScopeEvidence,
)

__all__ = ["SCOPE_FILE", "ScopeCues", "decide_scope", "load_scope_cues", "parse_scope"]

SCOPE_FILE = Path(__file__).parent / "scope.yaml"
MAX_EVIDENCE = 3
"""Sentences kept per article: enough to check the decision, few enough to read."""


class Cue(StrictModel):
    id: str = Field(pattern=r"^scope1[34]\.[a-z0-9-]+$")
    text: str

    @field_validator("text")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from exc
        return value


class Art14Cues(StrictModel):
    label: Label
    cues: list[Cue]


class ScopeCues(StrictModel):
    version: Literal[1] = 1
    art13: list[Cue] = Field(min_length=1)
    art14: Art14Cues


@dataclass(frozen=True)
class _Compiled:
    art13: tuple[tuple[str, re.Pattern[str]], ...]
    art14_label: str
    art14: tuple[tuple[str, re.Pattern[str]], ...]


@lru_cache(maxsize=2)
def load_scope_cues(path: Path = SCOPE_FILE) -> _Compiled:
    """Validated and compiled once per process."""
    from warden_analysers.policy_practices.loader import read_yaml

    try:
        cues = ScopeCues.model_validate(read_yaml(path))
    except ValidationError as exc:
        raise LoadError(f"invalid scope cues:\n{exc}", source=str(path)) from exc
    return _Compiled(
        tuple((c.id, re.compile(c.text, re.IGNORECASE)) for c in cues.art13),
        cues.art14.label,
        tuple((c.id, re.compile(c.text, re.IGNORECASE)) for c in cues.art14.cues),
    )


OVERRIDES: dict[str, ArticleScope] = {"art13": "13", "art14": "14", "both": "both", "13": "13", "14": "14"}
"""What ``--scope`` and the analyser's ``scope``/``article`` config accept."""


def parse_scope(value: str | None) -> ArticleScope | None:
    """'art13'/'art14'/'both' (or the older '13'/'14') as a scope; None or 'auto' decides."""
    if value is None or value == "auto":
        return None
    if value not in OVERRIDES:
        raise ValueError(f"scope must be art13, art14, both or auto, not '{value}'")
    return OVERRIDES[value]


def _evidence(
    article: Literal["13", "14"], rule: str, pid: str, text: str, match: re.Match[str]
) -> ScopeEvidence:
    start, end = sentence_span(text, *match.span())
    return ScopeEvidence(article=article, passage_id=pid, rule=rule, quote=clean_quote(text[start:end], 400))


def _label_evidence(passage_id: str, text: str, label: object) -> ScopeEvidence:
    ev = label.evidence[0]  # type: ignore[attr-defined]
    quote = ev.quote if ev.source != "text" else text[ev.start : ev.end]
    return ScopeEvidence(article="14", passage_id=passage_id, rule=ev.rule, quote=clean_quote(quote, 400))


def decide_scope(labelled: LabelledPassages, override: ArticleScope | None = None) -> ScopeDecision:
    """The scope and the passages behind it; ``override`` (the user's choice) wins but the
    evidence is still gathered, so a report shows what the notice said either way."""
    cues = load_scope_cues()
    found: dict[str, list[ScopeEvidence]] = {"13": [], "14": []}
    for passage in labelled.passages:
        for label in passage.labels:
            if label.label == cues.art14_label and len(found["14"]) < MAX_EVIDENCE:
                found["14"].append(_label_evidence(passage.id, passage.text, label))
        for article, table in (("13", cues.art13), ("14", cues.art14)):
            if len(found[article]) >= MAX_EVIDENCE or any(e.passage_id == passage.id for e in found[article]):
                continue
            for rule, pattern in table:
                match = pattern.search(passage.text)
                if match:
                    found[article].append(_evidence(article, rule, passage.id, passage.text, match))  # type: ignore[arg-type]
                    break
    evidence = found["13"] + found["14"]
    if override is not None:
        return ScopeDecision(
            scope=override,
            decided_by="override",
            reason=f"set by the user (Art. {override})",
            evidence=evidence,
        )
    if found["13"] and not found["14"]:
        scope, reason = "13", "the notice describes only data collected from the person"
    elif found["14"] and not found["13"]:
        scope, reason = "14", "the notice describes only data obtained from other sources"
    elif found["13"]:
        scope, reason = "both", "the notice describes data collected from the person and from other sources"
    else:
        return ScopeDecision(
            scope="both",
            decided_by="default",
            reason="the notice does not say where its data comes from: both articles are checked",
        )
    return ScopeDecision(scope=scope, decided_by="notice", reason=reason, evidence=evidence)  # type: ignore[arg-type]
