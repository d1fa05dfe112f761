"""Entry point of the ``policy_practices`` analyser: document in, labelled passages out."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from warden_analysers.policy_practices.categories import default_matcher
from warden_analysers.policy_practices.engine import Hit, default_labeller
from warden_analysers.policy_practices.quotes import sentence_span
from warden_analysers.policy_practices.sequence import LeadInTracker

from warden.errors import LoadError
from warden.schemas.document import Document
from warden.schemas.practices import (
    DataCategoryMention,
    LabelEvidence,
    LabelledPassage,
    LabelledPassages,
    PassageLabel,
)

__all__ = ["LABELLER", "label_document", "run"]

LABELLER = "rules@0.1.0"
"""Name and version recorded in every output, so stored results say what produced them."""


def _label(hit: Hit, text: str, headings: list[str], lead_in: str | None) -> PassageLabel:
    """The evidence is the whole sentence that holds the rule's match (in the passage, its
    heading or its lead-in), not the match alone: "be processed for" says nothing to a reviewer."""
    ev = hit.evidence
    if ev.source == "text":
        where = text
    elif ev.source == "lead_in":
        where = lead_in or ""
    else:
        where = headings[ev.heading_index or 0]
    start, end = ev.start, ev.end
    if where[start:end] == ev.quote:  # always, unless a caller built the hit by hand
        start, end = sentence_span(where, start, end)
    evidence = LabelEvidence(
        rule=ev.rule,
        source=ev.source,  # type: ignore[arg-type]
        heading_index=ev.heading_index,
        lead_in=lead_in if ev.source == "lead_in" else None,
        start=start,
        end=end,
        quote=where[start:end] if where[ev.start : ev.end] == ev.quote else ev.quote,
    )
    return PassageLabel(label=hit.label, confidence=hit.confidence, evidence=[evidence])  # type: ignore[arg-type]


def label_document(document: Document, min_confidence: float = 0.0) -> LabelledPassages:
    """Labels every passage in reading order (list items inherit their lead-in sentence). A
    document set is labelled document by document: a lead-in never runs into the next one, and
    each passage keeps the id of the document it is from."""
    labeller, matcher, tracker = default_labeller(), default_matcher(), LeadInTracker()
    passages = []
    current = None
    for passage in document.passages:
        if passage.document_id != current:
            tracker, current = LeadInTracker(), passage.document_id
        lead_in = tracker.next(passage.text, passage.headings)
        hits = labeller.label(passage.text, tuple(passage.headings), lead_in, min_confidence)
        passages.append(
            LabelledPassage(
                id=passage.id,
                index=passage.index,
                text=passage.text,
                headings=passage.headings,
                page=passage.page,
                labels=[_label(hit, passage.text, passage.headings, lead_in) for hit in hits],
                data_categories=[
                    DataCategoryMention(key=m.key, start=m.start, end=m.end, quote=m.quote)
                    for m in matcher.find(passage.text)
                ],
                document_id=passage.document_id,
            )
        )
    return LabelledPassages(
        document_id=document.id,
        document_name=document.name,
        labeller=LABELLER,
        passages=passages,
        documents=document.parts,
    )


def run(inputs: dict[str, Any], config: dict[str, Any], ctx: object | None = None) -> dict[str, Any]:
    """Analyser contract: ``inputs['document']`` is a Document as JSON; returns labelled_passages."""
    if "document" not in inputs:
        raise LoadError("policy_practices needs the input 'document'", source="inputs")
    try:
        document = Document.model_validate(inputs["document"])
    except ValidationError as exc:
        raise LoadError(f"not a document:\n{exc}", source="inputs.document") from exc
    unknown = set(config) - {"min_confidence", "refine"}
    if unknown:
        raise LoadError(f"unknown config keys {sorted(unknown)}", source="config")
    min_confidence = config.get("min_confidence", 0.0)
    if not isinstance(min_confidence, int | float) or not 0 <= min_confidence <= 1:
        raise LoadError("min_confidence must be a number from 0 to 1", source="config")
    labelled = label_document(document, float(min_confidence))
    if config.get("refine", "none") != "none":  # optional second opinion where the rules are unsure
        from warden_analysers.policy_practices.llm_refine import refine_for_run

        labelled = refine_for_run(labelled, ctx, config["refine"])
    return labelled.model_dump(mode="json")
