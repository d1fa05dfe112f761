"""Entry point of ``gdpr_transparency``: labelled passages in, transparency report out."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from pydantic import ValidationError
from warden_analysers.gdpr_transparency.catalogue import ItemSpec, load_catalogue
from warden_analysers.policy_practices.quotes import clean_quote, sentence_span

from warden.errors import LoadError
from warden.schemas.finding import Evidence, Finding, Severity
from warden.schemas.practices import (
    ArticleScope,
    LabelledPassages,
    TransparencyItem,
    TransparencyReport,
)

__all__ = ["ANALYSER", "check", "finding_id", "run"]

ANALYSER = "gdpr_transparency"


def finding_id(document_id: str, item: str) -> str:
    """Deterministic: the same gap in the same document always gets the same id."""
    digest = hashlib.sha256(f"{ANALYSER}\x1f{document_id}\x1f{item}".encode()).hexdigest()
    return f"gdpr-{digest[:20]}"


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
                return rule.severity, Evidence(
                    document_id=labelled.document_id,
                    passage_id=passage.id,
                    page=passage.page,
                    quote=clean_quote(passage.text[start:end], 600),
                )
    return spec.severity, None


def _finding(spec: ItemSpec, scope: ArticleScope, labelled: LabelledPassages) -> Finding:
    severity, trigger = _severity(spec, labelled)
    message = f"The notice does not disclose: {spec.title.lower()}. {spec.why}"
    evidence: list[Evidence] = []
    if trigger is not None:
        message += f" The condition holds: passage {trigger.passage_id} shows the processing it covers."
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
        details={"item": spec.item, "conditional": spec.conditional, "document": labelled.document_name},
    )


def check(labelled: LabelledPassages, scope: ArticleScope = "both") -> TransparencyReport:
    """Every item present (with its passages), missing (with a finding) or not applicable."""
    shown: dict[str, list[str]] = {}
    for passage in labelled.passages:
        for name in passage.label_names():
            shown.setdefault(name, []).append(passage.id)
    items, findings = [], []
    for spec in load_catalogue().items:
        if not spec.applies(scope):
            status, ids = "not_applicable", []
        elif spec.item in shown:
            status, ids = "present", shown[spec.item]
        else:
            status, ids = "missing", []
            findings.append(_finding(spec, scope, labelled))
        items.append(
            TransparencyItem(
                item=spec.item,
                title=spec.title,
                article=spec.article(scope) if spec.applies(scope) else spec.article("both"),
                status=status,  # type: ignore[arg-type]
                conditional=spec.conditional,
                passage_ids=ids,
            )
        )
    return TransparencyReport(
        document_id=labelled.document_id,
        document_name=labelled.document_name,
        scope=scope,
        items=items,
        findings=findings,
    )


def run(inputs: dict[str, Any], config: dict[str, Any], ctx: object | None = None) -> dict[str, Any]:
    """Analyser contract: the single input is labelled_passages; returns transparency_report."""
    candidates = [v for v in inputs.values() if isinstance(v, dict) and "passages" in v]
    if len(candidates) != 1:
        raise LoadError("gdpr_transparency needs exactly one labelled_passages input", source="inputs")
    try:
        labelled = LabelledPassages.model_validate(candidates[0])
    except ValidationError as exc:
        raise LoadError(f"not labelled passages:\n{exc}", source="inputs") from exc
    unknown = set(config) - {"article"}
    if unknown:
        raise LoadError(f"unknown config keys {sorted(unknown)}", source="config")
    scope = str(config.get("article", "both"))
    if scope not in ("13", "14", "both"):
        raise LoadError("article must be '13', '14' or 'both'", source="config")
    return check(labelled, scope).model_dump(mode="json")  # type: ignore[arg-type]
