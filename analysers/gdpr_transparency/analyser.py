"""Entry point of ``gdpr_transparency``: labelled passages in, transparency report out."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from pydantic import ValidationError
from warden_analysers.gdpr_transparency.catalogue import ItemSpec, load_catalogue
from warden_analysers.gdpr_transparency.references import Reference, find_references, match_document
from warden_analysers.gdpr_transparency.scope import decide_scope, parse_scope
from warden_analysers.policy_practices.quotes import clean_quote, sentence_span

from warden.documents.sets import display_name
from warden.errors import LoadError
from warden.schemas.finding import Evidence, Finding, Severity
from warden.schemas.practices import (
    ArticleScope,
    DocumentReference,
    LabelledPassages,
    TransparencyItem,
    TransparencyReport,
)

__all__ = ["ANALYSER", "check", "finding_id", "resolve_reference", "run"]

ANALYSER = "gdpr_transparency"


def finding_id(document_id: str, item: str) -> str:
    """Deterministic: the same gap in the same document always gets the same id."""
    digest = hashlib.sha256(f"{ANALYSER}\x1f{document_id}\x1f{item}".encode()).hexdigest()
    return f"gdpr-{digest[:20]}"


def _evidence(labelled: LabelledPassages, passage_id: str, quote: str) -> Evidence:
    """A citation names its document: in a set, the one the passage is from (the finding's
    details carry its name; the report resolves it from the stored passages)."""
    document_id, _ = labelled.document_of(passage_id)
    return Evidence(
        document_id=document_id,
        passage_id=passage_id,
        page=next((p.page for p in labelled.passages if p.id == passage_id), None),
        quote=quote,
    )


def _severity(spec: ItemSpec, labelled: LabelledPassages) -> tuple[Severity, Evidence | None]:
    """A conditional item's gap matters more once the notice shows the condition holds; the
    evidence is the sentence that shows it."""
    rule = spec.raise_when
    if rule is None:
        return spec.severity, None
    pattern = re.compile(rule.text, re.IGNORECASE)
    for passage in labelled.passages:
        if rule.label in passage.label_names():
            match = pattern.search(passage.text)
            if match:
                start, end = sentence_span(passage.text, *match.span())
                return rule.severity, _evidence(
                    labelled, passage.id, clean_quote(passage.text[start:end], 600)
                )
    return spec.severity, None


def _not_disclosed(labelled: LabelledPassages) -> str:
    if not labelled.documents:
        return "The notice does not disclose"
    names = ", ".join(display_name(d.name) for d in labelled.documents)
    return f"None of the set's documents ({names}) discloses"


def _finding(
    spec: ItemSpec, scope: ArticleScope, labelled: LabelledPassages, consulted: Reference | None = None
) -> Finding:
    """``consulted``: a reference of the set resolved to one of its documents, which does not
    disclose the item either (so it is missing, not deferred)."""
    severity, trigger = _severity(spec, labelled)
    message = f"{_not_disclosed(labelled)}: {spec.title.lower()}. {spec.why}"
    details: dict[str, Any] = {
        "item": spec.item,
        "conditional": spec.conditional,
        "document": labelled.document_name,
    }
    if consulted is not None:
        message += (
            f" The notice refers to {consulted.name} for it, which is in the set and does not "
            "disclose it either."
        )
        details["referenced"] = consulted.name
    evidence: list[Evidence] = []
    if trigger is not None:
        where = ""
        if labelled.documents and trigger.passage_id is not None:
            where = f" of {display_name(labelled.document_of(trigger.passage_id)[1])}"
            details["cited_documents"] = [labelled.document_of(trigger.passage_id)[1]]
        message += (
            f" The condition holds: passage {trigger.passage_id}{where} shows the processing it covers."
        )
        evidence.append(trigger)
    return Finding(
        id=finding_id(labelled.document_id, spec.item),
        analyser=ANALYSER,
        code=f"gdpr.missing.{spec.item}",
        title=f"Missing: {spec.title}",
        severity=severity,
        category="transparency",
        message=message,
        article=spec.article(scope),
        evidence=evidence,
        details=details,
    )


def _deferred(spec: ItemSpec, scope: ArticleScope, labelled: LabelledPassages, ref: Reference) -> Finding:
    evidence = _evidence(labelled, ref.passage_id, ref.quote)
    where = (
        ", which is not in the set. Check that document (or add it to the set)."
        if labelled.documents
        else ". Check that document (or run it with this one as a set)."
    )
    details: dict[str, Any] = {
        "item": spec.item,
        "conditional": spec.conditional,
        "document": labelled.document_name,
        "deferred_to": ref.name,
        "reference_key": ref.key,
    }
    if labelled.documents:
        details["referenced_in"] = labelled.document_of(ref.passage_id)[1]
        details["cited_documents"] = [details["referenced_in"]]
    return Finding(
        id=finding_id(labelled.document_id, spec.item),
        analyser=ANALYSER,
        code=f"gdpr.deferred.{spec.item}",
        title=f"Deferred to {ref.name}: {spec.title}",
        severity="info",
        category="transparency",
        message=(
            f"The notice does not disclose {spec.title.lower()} itself; it refers the reader to "
            f"{ref.name}{where}"
        ),
        article=spec.article(scope),
        evidence=[evidence],
        details=details,
    )


def _not_applicable_reason(spec: ItemSpec, scope: ArticleScope, decided_by: str) -> str:
    only = "Art. 14" if spec.art13 is None else "Art. 13"
    source = "collected from the person" if scope == "13" else "obtained elsewhere"
    why = {
        "notice": f"the notice only describes data {source}",
        "override": f"the scope was set to Art. {scope}",
    }.get(decided_by, f"scope Art. {scope}")
    return f"{only} item; {why}"


def check(labelled: LabelledPassages, scope: ArticleScope | None = None) -> TransparencyReport:
    """Every item present (with its passages), missing (with a finding), not applicable
    (outside the scope) or deferred to a referenced document (an info finding).

    ``scope`` None decides the scope from the notice (``scope.decide_scope``); a scope given is
    an override, and the decision (with the notice's evidence) is reported either way.

    A document set (``labelled.documents``) is one notice: the scope and every item are judged
    over all its passages, and a reference in one of its documents to another of them is
    resolved to it (that document's passages count, so nothing is deferred to it); only
    references to documents outside the set defer items."""
    decision = decide_scope(labelled, scope)
    scope = decision.scope
    found = [(part, ref) for part in labelled.parts() for ref in find_references(part)]
    references = [ref for _, ref in found]
    resolved = {
        i: target
        for i, (part, ref) in enumerate(found)
        if (target := match_document(ref, labelled.documents, besides=part.document_id)) is not None
    }
    shown: dict[str, list[str]] = {}
    for passage in labelled.passages:
        for name in passage.label_names():
            shown.setdefault(name, []).append(passage.id)
    names = {part.id: part.name for part in labelled.documents}
    owner = {p.id: p.document_id for p in labelled.passages} if names else {}
    items, findings = [], []
    deferred: dict[int, list[str]] = {}
    for spec in load_catalogue().items:
        reason = deferred_to = None
        # a reference that names the item's topic before one that sends the reader away for all
        ranked = sorted(enumerate(references), key=lambda r: not r[1].specific)
        if not spec.applies(scope):
            status, ids = "not_applicable", []
            reason = _not_applicable_reason(spec, scope, decision.decided_by)
        elif spec.item in shown:
            status, ids = "present", shown[spec.item]
        else:
            ids = []
            at = next((i for i, ref in ranked if spec.item in ref.covers and i not in resolved), None)
            if at is None:
                status = "missing"
                consulted = next(
                    (ref for i, ref in ranked if spec.item in ref.covers and i in resolved), None
                )
                findings.append(_finding(spec, scope, labelled, consulted))
            else:
                ref = references[at]
                status, deferred_to = "deferred", ref.name
                reason = f"the notice refers to {ref.name} for it"
                deferred.setdefault(at, []).append(spec.item)
                findings.append(_deferred(spec, scope, labelled, ref))
        documents = []
        if labelled.documents:
            for pid in ids:
                name = names.get(owner.get(pid) or "")
                if name is not None and name not in documents:
                    documents.append(name)
        items.append(
            TransparencyItem(
                item=spec.item,
                title=spec.title,
                article=spec.article(scope) if spec.applies(scope) else spec.article("both"),
                status=status,  # type: ignore[arg-type]
                conditional=spec.conditional,
                passage_ids=ids,
                reason=reason,
                deferred_to=deferred_to,
                documents=documents,
            )
        )
    models = []
    for i, (part, ref) in enumerate(found):
        model = ref.as_model(deferred.get(i, []))
        if labelled.documents:
            target = resolved.get(i)
            model = model.model_copy(
                update={
                    "document": part.document_name,
                    "resolved_to": target.name if target else None,
                    "resolved_document_id": target.id if target else None,
                }
            )
        models.append(model)
    return TransparencyReport(
        document_id=labelled.document_id,
        document_name=labelled.document_name,
        scope=scope,
        scope_decision=decision,
        references=models,
        items=items,
        findings=findings,
        documents=labelled.documents,
    )


def resolve_reference(
    report: TransparencyReport, reference: DocumentReference, other: LabelledPassages
) -> TransparencyReport:
    """The hook a document set calls when ``reference`` names a document it holds (``other``):
    each item deferred to it that ``other`` discloses becomes present, citing ``other``'s
    passages (whose ids name their document), and its info finding goes; an item ``other`` does
    not disclose either becomes missing again, with its finding. Returns a new report."""
    shown: dict[str, list[str]] = {}
    for passage in other.passages:
        for name in passage.label_names():
            shown.setdefault(name, []).append(passage.id)
    specs = {spec.item: spec for spec in load_catalogue().items}
    resolved = set(reference.items)
    findings = [
        f for f in report.findings if not (f.details.get("item") in resolved and f.severity == "info")
    ]
    items = []
    for item in report.items:
        if item.item in resolved and item.status == "deferred":
            if item.item in shown:
                item = item.model_copy(
                    update={
                        "status": "present",
                        "passage_ids": shown[item.item],
                        "reason": None,
                        "deferred_to": None,
                    }
                )
            else:
                item = item.model_copy(update={"status": "missing", "reason": None, "deferred_to": None})
                stand_in = LabelledPassages(
                    document_id=report.document_id,
                    document_name=report.document_name,
                    labeller="set",
                    passages=[],
                )
                findings.append(_finding(specs[item.item], report.scope, stand_in))
        items.append(item)
    references = [
        r.model_copy(update={"items": []})
        if r.passage_id == reference.passage_id and r.key == reference.key
        else r
        for r in report.references
    ]
    return report.model_copy(update={"items": items, "findings": findings, "references": references})


def run(inputs: dict[str, Any], config: dict[str, Any], ctx: object | None = None) -> dict[str, Any]:
    """Analyser contract: the single input is labelled_passages; returns transparency_report."""
    candidates = [v for v in inputs.values() if isinstance(v, dict) and "passages" in v]
    if len(candidates) != 1:
        raise LoadError("gdpr_transparency needs exactly one labelled_passages input", source="inputs")
    try:
        labelled = LabelledPassages.model_validate(candidates[0])
    except ValidationError as exc:
        raise LoadError(f"not labelled passages:\n{exc}", source="inputs") from exc
    unknown = set(config) - {"article", "scope"}
    if unknown:
        raise LoadError(f"unknown config keys {sorted(unknown)}", source="config")
    if "article" in config and "scope" in config:
        raise LoadError("give scope or its older name article, not both", source="config")
    if "article" in config and config["article"] not in ("13", "14", "both"):
        raise LoadError("article must be '13', '14' or 'both'", source="config")
    value = config.get("scope", config.get("article", "auto"))
    if value not in ("auto", "art13", "art14", "both", "13", "14"):
        raise LoadError("scope must be 'auto', 'art13', 'art14' or 'both'", source="config")
    return check(labelled, parse_scope(str(value))).model_dump(mode="json")
