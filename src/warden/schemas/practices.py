"""Labelled passages and the GDPR transparency report: what the practice analysers exchange.

The label vocabulary is Warden's own copy (the evaluation scorer keeps another); a test keeps
the two from drifting apart when the shared copy is present.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from warden.schemas._base import StrictModel
from warden.schemas.document import DocumentPart
from warden.schemas.finding import Finding

__all__ = [
    "GDPR_ITEMS",
    "LABELS",
    "PRACTICES",
    "ArticleScope",
    "DataCategoryMention",
    "DocumentReference",
    "EvidenceSource",
    "GdprItem",
    "ItemStatus",
    "Label",
    "LabelEvidence",
    "LabelledPassage",
    "LabelledPassages",
    "PassageLabel",
    "Practice",
    "ScopeDecision",
    "ScopeEvidence",
    "TransparencyItem",
    "TransparencyReport",
]

GdprItem = Literal[
    "controller_identity",
    "controller_contact",
    "dpo_contact",
    "processing_purpose",
    "legal_basis",
    "legitimate_interests",
    "recipients",
    "international_transfer",
    "retention",
    "right_access",
    "right_rectification",
    "right_erasure",
    "right_restriction",
    "right_object",
    "right_portability",
    "right_withdraw_consent",
    "right_complaint",
    "statutory_requirement",
    "automated_decision_making",
    "data_categories",
    "data_source",
]
"""The GDPR Art. 13/14 transparency items, one label each.

- ``controller_identity``: who the controller is (its name). Art. 13(1)(a), 14(1)(a).
- ``controller_contact``: how to reach the controller or its privacy team. Art. 13(1)(a).
- ``dpo_contact``: contact details of the data protection officer. Art. 13(1)(b), 14(1)(b).
- ``processing_purpose``: why personal data is processed. Art. 13(1)(c), 14(1)(c).
- ``legal_basis``: the lawful basis (consent, contract, legal obligation, ...). Art. 13(1)(c).
- ``legitimate_interests``: the legitimate interests relied on. Art. 13(1)(d), 14(2)(b).
- ``recipients``: recipients or categories of recipients; sharing with third parties.
  Art. 13(1)(e), 14(1)(e).
- ``international_transfer``: transfers to third countries and their safeguards.
  Art. 13(1)(f), 14(1)(f).
- ``retention``: how long data is stored, or the criteria that decide it. Art. 13(2)(a).
- ``right_access``: the right of access. Art. 13(2)(b), Art. 15.
- ``right_rectification``: the right to have data corrected. Art. 13(2)(b), Art. 16.
- ``right_erasure``: the right to have data deleted. Art. 13(2)(b), Art. 17.
- ``right_restriction``: the right to restrict processing. Art. 13(2)(b), Art. 18.
- ``right_object``: the right to object to processing. Art. 13(2)(b), Art. 21.
- ``right_portability``: the right to receive or transfer one's data. Art. 13(2)(b), Art. 20.
- ``right_withdraw_consent``: the right to withdraw consent at any time. Art. 13(2)(c).
- ``right_complaint``: the right to lodge a complaint with a supervisory authority.
  Art. 13(2)(d), 14(2)(e).
- ``statutory_requirement``: whether providing the data is a statutory or contractual
  requirement and what follows from not providing it. Art. 13(2)(e).
- ``automated_decision_making``: automated decisions and profiling, their logic and effects.
  Art. 13(2)(f), 14(2)(g).
- ``data_categories``: the categories of personal data concerned. Art. 14(1)(d).
- ``data_source``: where data comes from when not from the data subject. Art. 14(2)(f).
"""

Practice = Literal[
    "security",
    "policy_change",
    "do_not_track",
    "children",
    "regional_notice",
    "user_choice",
]
"""General data practices that notices carry beside the Art. 13/14 items.

- ``security``: how data is protected (encryption, access control, safeguards).
- ``policy_change``: how changes to the notice are made and announced.
- ``do_not_track``: how Do Not Track and similar browser signals are handled.
- ``children``: children's data, age limits and parental consent.
- ``regional_notice``: sections addressed to residents of a region (California, EEA, ...).
- ``user_choice``: opt-outs, preference settings and consent choices offered to the user.
"""

Label = Literal[GdprItem, Practice]
"""Any passage label: a GDPR item or a general practice."""

GDPR_ITEMS: tuple[str, ...] = GdprItem.__args__  # type: ignore[attr-defined]
PRACTICES: tuple[str, ...] = Practice.__args__  # type: ignore[attr-defined]
LABELS: tuple[str, ...] = GDPR_ITEMS + PRACTICES

EvidenceSource = Literal["text", "heading", "lead_in"]
"""Where the words behind a label were found.

- ``text``: in the passage text; ``start``/``end`` are offsets into it.
- ``heading``: in the heading the passage sits under (``heading_index`` into its headings);
  ``start``/``end`` are offsets into that heading.
- ``lead_in``: in the sentence ending in ':' that introduced the list the passage belongs to
  (``lead_in`` holds it); ``start``/``end`` are offsets into that sentence.
"""


class LabelEvidence(StrictModel):
    """The span that triggered a label, so a reviewer can check it without trusting the rule."""

    rule: str = Field(description="Id of the rule that matched, e.g. 'retention.keep-for'.")
    source: EvidenceSource = "text"
    heading_index: int | None = Field(default=None, ge=0)
    lead_in: str | None = Field(default=None, description="The list's introducing sentence.")
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    quote: str

    @model_validator(mode="after")
    def _span_is_consistent(self) -> LabelEvidence:
        if self.end < self.start:
            raise ValueError("evidence end is before its start")
        if self.end - self.start != len(self.quote):
            raise ValueError("evidence quote length does not match its span")
        if (self.source == "heading") != (self.heading_index is not None):
            raise ValueError("heading_index is set exactly when the source is a heading")
        if (self.source == "lead_in") != (self.lead_in is not None):
            raise ValueError("lead_in is set exactly when the source is a lead-in sentence")
        return self


class PassageLabel(StrictModel):
    """One label on one passage, with its strength and the evidence behind it."""

    label: Label
    confidence: float = Field(ge=0, le=1, description="Strength of the strongest matching rule.")
    evidence: list[LabelEvidence] = Field(min_length=1)


class DataCategoryMention(StrictModel):
    """A category of personal data named in a passage, as a fideslang data-category key."""

    key: str = Field(pattern=r"^user(\.[a-z_]+)*$", description="e.g. user.contact.email")
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    quote: str


class LabelledPassage(StrictModel):
    """A passage with its labels and the data categories it names."""

    id: str
    index: int = Field(ge=0)
    text: str
    headings: list[str] = Field(default_factory=list)
    page: int | None = Field(default=None, ge=1)
    labels: list[PassageLabel] = Field(default_factory=list)
    data_categories: list[DataCategoryMention] = Field(default_factory=list)
    document_id: str | None = Field(
        default=None, description="In a document set: the document the passage is from."
    )

    def label_names(self) -> list[str]:
        """The label names alone, in the order the labeller emitted them."""
        return [label.label for label in self.labels]


class LabelledPassages(StrictModel):
    """Output of ``policy_practices``: every passage of one document (or of a document set read
    as one notice: ``documents`` lists them, each passage names its own), labelled."""

    document_id: str
    document_name: str
    labeller: str = Field(description="Name and version of the labeller, e.g. 'rules@0.1.0'.")
    passages: list[LabelledPassage]
    documents: list[DocumentPart] = Field(default_factory=list)

    def parts(self) -> list[LabelledPassages]:
        """One LabelledPassages per document of the set (itself, for a single document)."""
        if not self.documents:
            return [self]
        return [
            LabelledPassages(
                document_id=part.id,
                document_name=part.name,
                labeller=self.labeller,
                passages=[p for p in self.passages if p.document_id == part.id],
            )
            for part in self.documents
        ]

    def document_of(self, passage_id: str) -> tuple[str, str]:
        """(document id, name) a passage of this notice comes from."""
        names = {part.id: part.name for part in self.documents}
        for passage in self.passages:
            if passage.id == passage_id and passage.document_id in names:
                return passage.document_id, names[passage.document_id]
        return self.document_id, self.document_name


ArticleScope = Literal["13", "14", "both"]
"""Which transparency article a notice is checked against.

- ``13``: data collected from the data subject (no data_categories / data_source items).
- ``14``: data obtained elsewhere (no statutory_requirement item).
- ``both``: every item of either article (the default; most notices cover both).
"""

ItemStatus = Literal["present", "missing", "not_applicable", "deferred"]
"""What the check concluded about one transparency item.

- ``present``: at least one passage discloses it (``passage_ids`` lists them).
- ``missing``: no passage discloses it; a finding is raised.
- ``not_applicable``: the item is outside the article scope (``reason`` says why).
- ``deferred``: the notice sends the reader to another document for it (``deferred_to`` names
  it); an info finding cites the reference instead of a missing-item finding.
"""

ScopeSource = Literal["notice", "override", "default"]
"""Who chose the article scope: what the notice says, the user (``--scope``/config), or
nobody (the notice says nothing either way, so every item of both articles is checked)."""


class ScopeEvidence(StrictModel):
    """A passage that shows where the notice's data comes from."""

    article: Literal["13", "14"] = Field(
        description="13: collected from the person; 14: obtained from someone else."
    )
    passage_id: str
    rule: str = Field(description="The scope cue (or passage label) that matched.")
    quote: str = Field(description="The sentence that shows it.")


class ScopeDecision(StrictModel):
    """Which article(s) the notice is checked against, and why."""

    scope: ArticleScope
    decided_by: ScopeSource
    reason: str
    evidence: list[ScopeEvidence] = Field(default_factory=list)


class DocumentReference(StrictModel):
    """A reference to another document ("see our Privacy Policy") and what is deferred to it.

    ``key`` is the normalised name a document set matches against its documents' names and
    titles; ``items`` are the items reported ``deferred`` to this document. In a set,
    ``document`` names the document that makes the reference and ``resolved_to`` the document of
    the set it was matched to (whose passages then count instead of a deferral)."""

    name: str = Field(description="As written, e.g. 'Acme Privacy Statement'.")
    key: str = Field(description="Lower-case name without the owner, e.g. 'privacy statement'.")
    kind: str = Field(description="What kind of document: privacy, cookie, terms, ...")
    url: str | None = None
    passage_id: str
    quote: str = Field(description="The sentence that makes the reference.")
    items: list[GdprItem] = Field(default_factory=list)
    document: str | None = Field(default=None, description="In a set: the document that refers.")
    resolved_to: str | None = Field(default=None, description="In a set: the document it names.")
    resolved_document_id: str | None = None


class TransparencyItem(StrictModel):
    """One Art. 13/14 item and whether the notice discloses it."""

    item: GdprItem
    title: str
    article: str = Field(description="Legal reference, e.g. 'GDPR Art. 13(1)(a)'.")
    status: ItemStatus
    conditional: bool = Field(description="Required only when the processing it covers happens.")
    passage_ids: list[str] = Field(default_factory=list)
    reason: str | None = Field(default=None, description="Why the item is not applicable or deferred.")
    deferred_to: str | None = Field(default=None, description="The referenced document's name.")
    documents: list[str] = Field(
        default_factory=list, description="In a set: the names of the documents whose passages show it."
    )


class TransparencyReport(StrictModel):
    """Output of ``gdpr_transparency``: every item's status and a finding per missing item."""

    document_id: str
    document_name: str
    scope: ArticleScope
    scope_decision: ScopeDecision | None = None
    references: list[DocumentReference] = Field(default_factory=list)
    items: list[TransparencyItem]
    findings: list[Finding] = Field(default_factory=list)
    documents: list[DocumentPart] = Field(
        default_factory=list, description="A document set checked as one notice: its documents."
    )

    def missing(self) -> list[str]:
        """Names of the items the notice does not disclose."""
        return [item.item for item in self.items if item.status == "missing"]

    def deferred(self) -> dict[str, list[str]]:
        """Referenced document name -> the items deferred to it (what a document set resolves)."""
        out: dict[str, list[str]] = {}
        for item in self.items:
            if item.status == "deferred" and item.deferred_to:
                out.setdefault(item.deferred_to, []).append(item.item)
        return out
