"""Redaction for exports: secrets and raw personal data out, identifiers an auditor needs kept.

What goes: API keys and tokens, passwords in DSNs and `key=value` pairs, values under
secret-named keys, e-mail addresses, phone numbers, payment card numbers (Luhn-checked) and
IBANs (checksum-checked). What stays: run ids, hashes, timestamps, and policy user ids such as
``dora@acme`` (no domain suffix, so not an e-mail address): "who approved" must survive.
Checksums keep hashes and counters from being taken for cards or IBANs.
"""

from __future__ import annotations

import re
from typing import Any

from warden.personal_data import CARD, IBAN, is_card, is_iban

__all__ = ["SECRET_KEY", "redact", "redact_text"]

SECRET_KEY = re.compile(
    r"(?i)(?:^|[_-])(?:api[_-]?key|apikey|token|secret|password|passwd|pwd|credentials?|"
    r"private[_-]?key|access[_-]?key|auth(?:orization)?|dsn)(?:$|[_-])"
)
"""Dict keys whose values are secrets whatever they look like."""

_MARK = "[redacted:{}]"

# Order matters: credentials inside URLs before e-mails (user:pw@host looks like one).
_DSN_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]*:)(?P<pw>[^\s@/]+)(?P<tail>@)")
_TOKENS = re.compile(
    r"""(?x)
    \bsk-(?:ant-|proj-|live-|test-)?[A-Za-z0-9_-]{16,}   # OpenAI / Anthropic / Stripe-style keys
    | \b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{30,}          # GitHub tokens
    | \bgithub_pat_[A-Za-z0-9_]{30,}
    | \bxox[abpr]-[A-Za-z0-9-]{10,}                        # Slack
    | \bAKIA[0-9A-Z]{16}\b                                  # AWS access key id
    | \bAIza[0-9A-Za-z_-]{35}                               # Google API key
    | \beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}  # JWT
    """
)
_BEARER = re.compile(r"(?i)\b(?P<head>bearer\s+)[A-Za-z0-9._~+/=-]{8,}")
_ASSIGNED = re.compile(
    r"(?i)\b(?P<head>(?:api[_-]?key|apikey|access[_-]?key|secret|token|password|passwd|pwd)"
    r"\s*[:=]\s*)(?:\"[^\"]*\"|'[^']*'|[^\s\"',;]+)"
)
_EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}(?![\w-])")
_PHONE = re.compile(r"(?<![\w+])(?:\+|00|0)\d(?:[ ().-]{0,2}\d){7,14}(?![\w])")


def _iban(match: re.Match[str]) -> str:
    return _MARK.format("iban") if is_iban(match.group(0)) else match.group(0)


def _card(match: re.Match[str]) -> str:
    return _MARK.format("card") if is_card(match.group(0)) else match.group(0)


def _phone(match: re.Match[str]) -> str:
    import phonenumbers

    text = match.group(0)
    candidate = "+" + text[2:] if text.startswith("00") else text
    try:
        number = phonenumbers.parse(candidate, "GB")
    except phonenumbers.NumberParseException:
        return text
    return _MARK.format("phone") if phonenumbers.is_possible_number(number) else text


def redact_text(text: str) -> str:
    """`text` with every secret and piece of raw personal data replaced by a typed marker."""
    text = _DSN_PASSWORD.sub(lambda m: m["head"] + _MARK.format("password") + m["tail"], text)
    text = _TOKENS.sub(_MARK.format("secret"), text)
    text = _BEARER.sub(lambda m: m["head"] + _MARK.format("secret"), text)
    text = _ASSIGNED.sub(lambda m: m["head"] + _MARK.format("secret"), text)
    text = _EMAIL.sub(_MARK.format("email"), text)
    text = IBAN.sub(_iban, text)
    text = CARD.sub(_card, text)
    return _PHONE.sub(_phone, text)


def redact(value: Any, *, key: str | None = None) -> Any:
    """A copy of `value` (JSON-like data) with strings redacted; secret-named keys lose their value."""
    if key is not None and value not in (None, "", False) and SECRET_KEY.search(key):
        return _MARK.format("secret")
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: redact(v, key=str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value
