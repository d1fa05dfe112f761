"""Identifiers that are personal data wherever they appear, found by checksum, not by shape.

Used on the way into the store: document text has IBANs and payment card numbers masked
before it is kept (a notice never needs them; an export someone uploads by mistake must not
leave them in the store), and exports redact them again. E-mail addresses and phone numbers
are kept in documents: a notice's contact points are what the Art. 13/14 check reads.
"""

from __future__ import annotations

import re

__all__ = ["CARD", "IBAN", "is_card", "is_iban", "mask_identifiers"]

IBAN = re.compile(r"(?<![\w])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?![\w])")
CARD = re.compile(r"(?<![\w.-])\d(?:[ -]?\d){12,18}(?![\w-]|\.\d)")


def is_iban(text: str) -> bool:
    from stdnum import iban

    return bool(iban.is_valid(text))


def is_card(text: str) -> bool:
    from stdnum import luhn

    digits = re.sub(r"\D", "", text)
    return 13 <= len(digits) <= 19 and bool(luhn.is_valid(digits))


def _same_length(match: re.Match[str]) -> str:
    return re.sub(r"[A-Za-z0-9]", "•", match.group(0))


def mask_identifiers(text: str) -> str:
    """`text` with valid IBANs and card numbers masked character for character, so every
    offset into it (passages, citations) still points at the same place."""
    if not any(c.isdigit() for c in text):
        return text
    text = IBAN.sub(lambda m: _same_length(m) if is_iban(m.group(0)) else m.group(0), text)
    return CARD.sub(lambda m: _same_length(m) if is_card(m.group(0)) else m.group(0), text)
