"""Document sets: several documents read as one notice (a product notice and the main policy).

The analysers take one document, so a set is handed to them as one: its passages in the order
the documents were given, each keeping its id and naming its document (``Passage.document_id``),
the texts joined so every passage still slices the set's text, and ``parts`` listing the
documents. Completeness is then judged over the set, and every citation can name its document.
"""

from __future__ import annotations

import hashlib
import re

from warden.errors import UsageError
from warden.schemas.document import Document, DocumentPart

__all__ = ["SEPARATOR", "combine", "display_name", "set_id", "set_name"]

SEPARATOR = "\n\n"
"""Between the documents' texts in the set's text (as between blocks of one document)."""

_UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{32}--")


def display_name(name: str) -> str:
    """A document's name as its owner gave it: an upload's generated prefix left out."""
    return _UPLOAD_PREFIX.sub("", name)


def set_id(document_ids: list[str]) -> str:
    """Deterministic and independent of the order the documents were given in, so a retried or
    replayed run of the same set (whose stored documents come back by id) gets the same
    finding ids."""
    return "set-" + hashlib.sha256("\x1f".join(sorted(document_ids)).encode()).hexdigest()[:40]


def set_name(names: list[str]) -> str:
    """What a run of several documents is called: the first and how many more."""
    if not names:
        return ""
    return names[0] if len(names) == 1 else f"{names[0]} (+{len(names) - 1})"


def combine(documents: list[Document]) -> Document:
    """One document for a set; a single document is returned unchanged.

    Refuses the same document twice (its passages would count twice and their ids collide)."""
    if len(documents) == 1:
        return documents[0]
    if not documents:
        raise UsageError("a document set needs at least one document", fix="give one or more documents")
    seen: set[str] = set()
    for document in documents:
        if document.id in seen:
            raise UsageError(
                f"{document.name} is in the set twice",
                fix="give each document once",
                code="duplicate_document",
            )
        seen.add(document.id)
    passages, texts, offset = [], [], 0
    for document in documents:
        text = document.text or "\n\n".join(p.text for p in document.passages)
        # a document stored without its text: passages are re-laid end to end
        relaid = not document.text
        at = 0
        for passage in document.passages:
            if relaid:
                start = text.index(passage.text, at)
                at = start + len(passage.text)
                end = at
            else:
                start, end = passage.start, passage.end
            passages.append(
                passage.model_copy(
                    update={"start": offset + start, "end": offset + end, "document_id": document.id}
                )
            )
        texts.append(text)
        offset += len(text) + len(SEPARATOR)
    joined = SEPARATOR.join(texts)
    first = documents[0]
    return Document(
        id=set_id([d.id for d in documents]),
        name=set_name([d.name for d in documents]),
        format=first.format,
        pages=None,
        title=first.title,
        text_chars=len(joined),
        passages=passages,
        text=joined,
        parts=[
            DocumentPart(id=d.id, name=d.name, title=d.title, format=d.format, passages=len(d.passages))
            for d in documents
        ],
    )
