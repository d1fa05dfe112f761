"""Masking: the only form in which a value read from a system may leave the scanner.

Each masker keeps just enough shape for an analyst to recognise what was found (the country
of an IBAN, the last digits of a card, the domain's first letter) and never the value itself.
"""

from __future__ import annotations

import ipaddress
import re

import phonenumbers

__all__ = [
    "MAX_EXAMPLE",
    "mask_card",
    "mask_coordinate",
    "mask_email",
    "mask_full",
    "mask_generic",
    "mask_hex",
    "mask_iban",
    "mask_ip",
    "mask_phone",
    "mask_words",
]

MAX_EXAMPLE = 200
_ALNUM = re.compile(r"[^\W_]", re.UNICODE)


def _cut(text: str) -> str:
    return text if len(text) <= MAX_EXAMPLE else text[: MAX_EXAMPLE - 1] + "…"


def mask_email(value: str) -> str:
    """``jane.doe@example.com`` -> ``j***@e***.com``."""
    local, _, domain = value.rpartition("@")
    labels = domain.split(".")
    return _cut(f"{local[:1]}***@{labels[0][:1]}***.{labels[-1]}")


def mask_card(value: str) -> str:
    """``4242424242424242`` -> ``**** **** **** 4242``."""
    digits = re.sub(r"\D", "", value)
    return f"**** **** **** {digits[-4:]}"


def mask_iban(value: str) -> str:
    """``DE89370400440532013000`` -> ``DE** **** **** **** **30 00``: country and last four."""
    compact = re.sub(r"\s", "", value).upper()
    masked = compact[:2] + "*" * (len(compact) - 6) + compact[-4:]
    return " ".join(masked[i : i + 4] for i in range(0, len(masked), 4))


def mask_phone(value: str) -> str:
    """``+44 20 7946 0958`` -> ``+44 ** **** **58``: the country code and the last two digits."""
    keep_head = 0
    if value.startswith("+"):
        try:
            keep_head = len(str(phonenumbers.parse(value, None).country_code))
        except phonenumbers.NumberParseException:
            keep_head = 0
    total = sum(ch.isdigit() for ch in value)
    out, seen = [], 0
    for ch in value:
        if ch.isdigit():
            seen += 1
            out.append(ch if seen <= keep_head or seen > total - 2 else "*")
        else:
            out.append(ch)
    return _cut("".join(out))


def mask_ip(value: str) -> str:
    """``203.0.113.42`` -> ``203.*.*.*``; IPv6 keeps its first group."""
    address = ipaddress.ip_address(value)
    if address.version == 4:
        return value.split(".")[0] + ".*.*.*"
    return address.exploded.split(":")[0] + ":*:*:*:*:*:*:*"


def mask_hex(value: str) -> str:
    """UUIDs, MAC addresses, device ids: the first two characters and the separators."""
    return _cut(value[:2] + _ALNUM.sub("*", value[2:]))


def mask_generic(value: str) -> str:
    """Identifiers: separators kept, every character but the last two masked (``***-**-**99``)."""
    if len(value) < 8:
        return _ALNUM.sub("*", value)
    return _cut(_ALNUM.sub("*", value[:-2]) + value[-2:])


def mask_words(value: str) -> str:
    """Names, addresses, vocabulary terms: each word's first character, then ``***``."""
    words = value.split()[:12]
    return _cut(" ".join(f"{w[:1]}***" for w in words))


def mask_full(value: str) -> str:
    """Dates and short codes: only the shape survives (``****-**-**``)."""
    return _cut(_ALNUM.sub("*", value))


def mask_coordinate(value: str) -> str:
    """``52.520008, 13.404954`` -> ``52.***, 13.***``: about 100 km, not a doorstep."""
    return _cut(re.sub(r"(\d+)\.\d+", r"\1.***", value))
