"""References to other documents, and the items a notice defers to them.

"For your rights, see the Lumen Privacy Statement" sends the reader elsewhere for the rights:
an item the notice does not disclose itself, that the referenced kind of document covers (and
that the sentence's topic names, when it names one), is reported "deferred to <name>" at info
severity with the reference as evidence, instead of missing. A document set that holds the
referenced document resolves the deferral with ``resolve_reference`` (its passages count).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator
from warden_analysers.policy_practices.quotes import clean_quote, sentence_span

from warden.documents.sets import display_name
from warden.errors import LoadError
from warden.schemas._base import StrictModel
from warden.schemas.document import DocumentPart
from warden.schemas.practices import GDPR_ITEMS, DocumentReference, GdprItem, LabelledPassages

__all__ = [
    "REFERENCES_FILE",
    "Reference",
    "document_keys",
    "find_references",
    "load_reference_rules",
    "match_document",
    "reference_key",
]

REFERENCES_FILE = Path(__file__).parent / "references.yaml"
_OF_OTHERS = re.compile(r"\s+(?:of|from|by)\b", re.IGNORECASE)
"""'the privacy policy of these websites', 'the policies of our partners': someone else's."""
_URL = re.compile(r"\bhttps?://[^\s)\]>\"']+|\bwww\.[^\s)\]>\"']+", re.IGNORECASE)


def _regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression: {exc}") from exc
    return value


class Kind(StrictModel):
    kind: str = Field(pattern=r"^[a-z_]+$")
    text: str
    covers: Literal["all"] | list[GdprItem]

    @field_validator("text")
    @classmethod
    def _compiles(cls, value: str) -> str:
        return _regex(value)


class Topic(StrictModel):
    items: list[GdprItem] = Field(min_length=1)
    text: str

    @field_validator("text")
    @classmethod
    def _compiles(cls, value: str) -> str:
        return _regex(value)


class ReferenceRules(StrictModel):
    version: Literal[1] = 1
    refer: str
    window: int = Field(ge=0, le=300)
    name: str
    other: str
    kinds: list[Kind] = Field(min_length=1)
    topics: list[Topic] = Field(default_factory=list)

    @field_validator("refer", "name", "other")
    @classmethod
    def _compiles(cls, value: str) -> str:
        return _regex(value)


@dataclass(frozen=True)
class _Compiled:
    pattern: re.Pattern[str]
    other: re.Pattern[str]
    kinds: tuple[tuple[str, re.Pattern[str], frozenset[str]], ...]
    topics: tuple[tuple[re.Pattern[str], frozenset[str]], ...]


@lru_cache(maxsize=2)
def load_reference_rules(path: Path = REFERENCES_FILE) -> _Compiled:
    """Validated and compiled once per process."""
    from warden_analysers.policy_practices.loader import read_yaml

    try:
        rules = ReferenceRules.model_validate(read_yaml(path))
    except ValidationError as exc:
        raise LoadError(f"invalid reference rules:\n{exc}", source=str(path)) from exc
    kinds = "|".join(f"(?:{k.text})" for k in rules.kinds)
    pattern = re.compile(
        rf"(?:{rules.refer})[^.!?]{{0,{rules.window}}}?"
        rf"(?P<lead>\b(?:our|the|its|their|this|these|that|(?-i:[A-Z][\w&.'’-]*)(?:'s|’s))\s+)"
        rf"(?:{rules.other}\s+)?"
        rf"(?P<name>{rules.name}(?:{kinds}))\b",
        re.IGNORECASE,
    )
    return _Compiled(
        pattern,
        re.compile(rules.other, re.IGNORECASE),
        tuple(
            (
                k.kind,
                re.compile(k.text, re.IGNORECASE),
                frozenset(GDPR_ITEMS if k.covers == "all" else k.covers),
            )
            for k in rules.kinds
        ),
        tuple((re.compile(t.text, re.IGNORECASE), frozenset(t.items)) for t in rules.topics),
    )


@dataclass(frozen=True)
class Reference:
    """One reference found in a passage; ``covers`` are the items it may take over."""

    name: str
    key: str
    kind: str
    url: str | None
    passage_id: str
    quote: str
    covers: frozenset[str]
    specific: bool = False
    """The sentence named the topics it sends the reader elsewhere for ("for your rights, see")."""

    def as_model(self, items: list[str]) -> DocumentReference:
        return DocumentReference(
            name=self.name,
            key=self.key,
            kind=self.kind,
            url=self.url,
            passage_id=self.passage_id,
            quote=self.quote,
            items=items,  # type: ignore[arg-type]
        )


def reference_key(name: str) -> str:
    """Lower case, single spaces, no leading owner or article: 'Acme's Privacy Policy' and
    'the Acme Privacy Policy' both give 'acme privacy policy'."""
    words = re.sub(r"['’]s\b", "", name.lower())
    words = re.sub(r"[^\w&]+", " ", words).split()
    while words and words[0] in ("the", "our", "its", "their"):
        words = words[1:]
    return " ".join(words)


def _title(labelled: LabelledPassages) -> str:
    for passage in labelled.passages:
        if passage.headings:
            return passage.headings[0]
    return labelled.document_name


def _third_party(lead: str, name: str, rules: _Compiled, own: str) -> bool:
    """A policy of someone else ("Google's Privacy Policy", "the Stripe Privacy Notice"): its
    owner is not named in the notice's title. Only the controller's own documents take items
    over; a vendor's policy says what the vendor does, not what the controller discloses."""
    owner = lead.strip() if lead.strip().lower() not in ("our", "the") else ""
    kind_at = min((m.start() for _, p, _ in rules.kinds if (m := p.search(name))), default=len(name))
    words = (owner + " " + name[:kind_at]).lower()
    words = re.sub(r"['’]s\b", "", words)
    owners = [w for w in re.findall(r"[\w&]+", words) if not rules.other.fullmatch(w)]
    return bool(owners) and not all(w in own.split() for w in owners)


def find_references(labelled: LabelledPassages) -> list[Reference]:
    """Every reference to another document, in reading order, one per name and passage.

    A reference to the notice itself ("this Privacy Policy", or "our Privacy Notice" in a
    notice titled "... Privacy Notice") is not another document, unless the sentence says it is
    ("our main Privacy Policy")."""
    rules = load_reference_rules()
    own = reference_key(_title(labelled))
    found: list[Reference] = []
    seen: set[tuple[str, str]] = set()
    for passage in labelled.passages:
        text = passage.text
        for match in rules.pattern.finditer(text):
            lead, name = match.group("lead"), match.group("name")
            if lead.strip().lower() in ("this", "these", "that", "its", "their"):
                continue  # the notice itself, or a third party's own policy ("its privacy policy")
            if _third_party(lead, name, rules, own) or _OF_OTHERS.match(text, match.end()):
                continue
            start, end = sentence_span(text, match.start(), match.end())
            sentence = text[start:end]
            key = reference_key(name)
            if (own == key or own.endswith(" " + key)) and not rules.other.search(sentence):
                continue  # the notice naming itself
            kind = next((k for k, p, _ in rules.kinds if p.search(name)), None)
            if kind is None or (passage.id, key) in seen:
                continue
            seen.add((passage.id, key))
            covers = next(c for k, _, c in rules.kinds if k == kind)
            named = frozenset().union(*(items for p, items in rules.topics if p.search(sentence)))
            if named:
                covers = covers & named
            url = _URL.search(sentence)
            owner = lead.strip() if lead.strip().lower() not in ("our", "the", "its", "their") else ""
            found.append(
                Reference(
                    name=(owner + " " + name).strip() if owner else name,
                    key=key,
                    kind=kind,
                    url=url.group(0).rstrip(".,;") if url else None,
                    passage_id=passage.id,
                    quote=clean_quote(sentence, 400),
                    covers=covers,
                    specific=bool(named),
                )
            )
    return found


def _file_key(name: str) -> str:
    """'lumen-privacy-statement.md' and 'Lumen_Privacy_Statement.pdf' both give
    'lumen privacy statement' (an upload's generated prefix left out)."""
    stem = Path(display_name(name)).stem
    return reference_key(re.sub(r"[-_.+]+", " ", stem))


def document_keys(part: DocumentPart) -> list[str]:
    """The keys a reference may match a document of a set by: its title and its file name."""
    keys = [reference_key(part.title)] if part.title else []
    keys.append(_file_key(part.name))
    return [k for k in dict.fromkeys(keys) if k]


def _url_keys(url: str) -> list[str]:
    """A link's path segments as keys: '.../legal/privacy-statement.html' gives 'privacy statement'
    (and 'legal'); a bare host names no document."""
    path = re.sub(r"^(?:https?://)?[^/]+", "", url).split("?")[0].split("#")[0]
    return [_file_key(seg) for seg in path.split("/") if seg and _file_key(seg)]


def _kind_of(key: str, rules: _Compiled) -> str | None:
    return next((kind for kind, pattern, _ in rules.kinds if pattern.search(key)), None)


def _score(ref_key: str, key: str) -> int:
    """3: the same name; 2: the same name but for an owner ('privacy statement' in 'lumen
    privacy statement'), the shorter having at least two words; 0: another name."""
    if ref_key == key:
        return 3
    short, long = sorted((ref_key, key), key=len)
    if len(short.split()) >= 2 and long.endswith(" " + short):
        return 2
    return 0


def match_document(
    reference: Reference, documents: list[DocumentPart], *, besides: str
) -> DocumentPart | None:
    """The document of a set that ``reference`` (made in document ``besides``) names, or None.

    People name a document by its title ("the Lumen Privacy Statement") and files by a slug
    ("lumen-privacy-statement.md", "privacy-statement.pdf"), so both are keyed alike
    (:func:`reference_key`) and compared by name, by name without the owner, and by the link's
    path; failing those, the set's only other document of the same kind ("see our Privacy
    Policy" in a set holding one privacy statement) is the one meant. Never the referring
    document itself."""
    others = [d for d in documents if d.id != besides]
    if not others:
        return None
    rules = load_reference_rules()
    best, best_score = None, 0
    for document in others:
        keys = document_keys(document)
        score = max((_score(reference.key, k) for k in keys), default=0)
        if reference.url and any(u == k for u in _url_keys(reference.url) for k in keys):
            score = max(score, 2)
        if score > best_score:
            best, best_score = document, score
    if best is not None:
        return best
    same_kind = [d for d in others if any(_kind_of(k, rules) == reference.kind for k in document_keys(d))]
    return same_kind[0] if len(same_kind) == 1 else None
