"""A loaded document with personal identifiers masked, as the store keeps it."""

from __future__ import annotations

from warden.personal_data import mask_identifiers
from warden.schemas.document import Document

__all__ = ["masked"]


def masked(document: Document) -> Document:
    """`document` with IBANs and card numbers masked in its text, passages and title; offsets
    and ids are unchanged (masking keeps lengths), so every citation still holds."""
    text = mask_identifiers(document.text)
    if text == document.text and all(mask_identifiers(p.text) == p.text for p in document.passages):
        return document
    passages = [p.model_copy(update={"text": mask_identifiers(p.text)}) for p in document.passages]
    title = mask_identifiers(document.title) if document.title else document.title
    return document.model_copy(update={"text": text, "passages": passages, "title": title})
