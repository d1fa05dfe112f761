"""Credentials out of everything Warden prints or stores: URL passwords, API keys, tokens.

Error messages from the HTTP client quote the endpoint URL (and servers echo headers), and
those messages become run reasons, step errors, audit payloads, checkpoints and terminal
output. :func:`scrub` masks what looks like a credential with ``***``; the store and the CLI
call it where free text leaves Warden, so no path has to remember to.

Every pattern starts at a fixed anchor (``://``, ``sk-``, a key name) and scans forward over a
character class that cannot contain its own terminator: linear time, no nested quantifiers.
Documents are not scrubbed (their text is evidence); messages and payloads are.
"""

from __future__ import annotations

import functools
import json
import os
import re
import threading
from typing import Any

__all__ = [
    "MASK",
    "SECRET_ENV_VARS",
    "dumps_scrubbed",
    "register_secret",
    "registered_secrets",
    "scrub",
    "scrub_data",
    "url_password",
    "without_password",
]

MASK = "***"

SECRET_ENV_VARS: tuple[str, ...] = ("OPENAI_API_KEY", "WARDEN_LLM_API_KEY", "AZURE_OPENAI_API_KEY")
"""Variables whose values are secrets wherever they appear (``warden.llm.config`` reads
OPENAI_API_KEY; the others are read by the client or reserved). Masked when 8+ characters."""

_MIN_ENV_SECRET = 8

_KEY_NAMES = (
    r"api[_-]?key|access[_-]?key|access[_-]?token|refresh[_-]?token|auth[_-]?token|id[_-]?token"
    r"|token|password|passwd|pwd|secret|client[_-]?secret"
)
_VALUE_CHAR = r"[^\s&\"'<>;,)}\]\\]"
_VALUE = _VALUE_CHAR + "+"

# Each alternative is one credential form; the named group is what gets masked.
_PATTERN = re.compile(
    # https://user:PASSWORD@host (any scheme): the password runs to the '@' of the authority
    r"://(?P<user>[^\s/@:?#\"'<>\\]*):(?P<url_pw>[^\s/?#\"'<>\\]+)@"
    # OpenAI-style keys (sk-..., sk-proj-...) and other well-known token shapes (the forms
    # warden.redaction knows): GitHub, Slack, AWS key id, Google API key, JWT
    r"|(?<![A-Za-z0-9_-])(?P<sk>sk-[A-Za-z0-9_-]{16,}|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,}"
    r"|xox[abpr]-[A-Za-z0-9-]{10,}|AKIA[0-9A-Z]{16}(?![A-Za-z0-9])|AIza[0-9A-Za-z_-]{35}"
    r"|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,})"
    # Authorization: Basic|Bearer|Token|Digest VALUE, or a bare token-like value of 16+ characters
    r"|(?P<scheme_head>(?i:authorization)[\"']?\s*[:=]\s*[\"']?(?i:basic|bearer|token|digest)\s+)"
    r"(?P<scheme>[^\s\"',;}\]]+)"
    r"|(?P<auth_head>(?i:authorization)[\"']?\s*[:=]\s*[\"']?)(?P<auth>[A-Za-z0-9._~+/=-]{16,})"
    # Bearer VALUE anywhere: 8+ token characters, with a non-letter or 20+ long (not "bearer bonds")
    r"|(?P<bearer_head>(?<![A-Za-z])(?i:bearer)\s+)(?=[A-Za-z0-9._~+/-]{8})"
    r"(?P<bearer>(?:[A-Za-z0-9._~+/-]*[0-9._~+/-][A-Za-z0-9._~+/-]*|[A-Za-z]{20,})=*)"
    # Warden's own API tokens (wdn_<12 hex id>_<secret>, service.accounts): the id is kept (it
    # names the token to revoke), the secret masked
    r"|(?P<wdn_head>(?<![A-Za-z0-9_-])wdn_[0-9a-f]{12}_)(?P<wdn>[A-Za-z0-9_-]{8,})"
    # api_key=VALUE, token=VALUE, password=VALUE, ... (query strings, key=value text)
    rf"|(?P<kv_head>(?<![A-Za-z0-9])(?i:{_KEY_NAMES})\s*=\s*)(?P<kv>{_VALUE})"
    # password: VALUE, api_key: VALUE (YAML, headers, a line pasted into a comment): prose puts
    # words after "password:" too, so only a value that looks like a secret is masked: 8+
    # characters with a digit or a symbol in them, or 20+ characters
    rf"|(?P<colon_head>(?<![A-Za-z0-9])(?i:{_KEY_NAMES})\s*:\s*[\"']?)(?={_VALUE_CHAR}{{8}})"
    rf"(?P<colon>{_VALUE_CHAR}*[0-9_~+/=!#$%*?@^|]{_VALUE_CHAR}*|{_VALUE_CHAR}{{20,}})"
    # "password": "VALUE" / 'api_key': 'VALUE' (JSON, Python reprs)
    rf"|(?P<q_head>(?P<q1>[\"'])(?i:[A-Za-z0-9_-]*(?:{_KEY_NAMES}))(?P=q1)\s*:\s*(?P<q2>[\"']))"
    r"(?P<q>[^\"'\\\r\n]+)(?=(?P=q2))"
)


_HEADS = {
    "scheme": "scheme_head",
    "auth": "auth_head",
    "bearer": "bearer_head",
    "wdn": "wdn_head",
    "kv": "kv_head",
    "colon": "colon_head",
    "q": "q_head",
}


def _mask(match: re.Match[str]) -> str:
    if match["url_pw"] is not None:
        return f"://{match['user']}:{MASK}@"
    if match["sk"] is not None:
        return MASK
    head = next(h for v, h in _HEADS.items() if match[v] is not None)
    return match[head] + MASK


_registered: frozenset[str] = frozenset()
_registering = threading.Lock()


def register_secret(value: str | None) -> bool:
    """Mask `value` wherever :func:`scrub` looks from now on, in this process; True if taken.

    For secrets with no shape of their own: the ``api_key`` of a config file, the bare password
    of a URL (a model echoes them without their ``api_key:`` or ``user:...@``). The set is
    process-wide and only grows, deliberately: every writer (store, checkpoints, CLI, errors)
    masks through :func:`scrub` without being handed a list, so none can forget it; a value
    registered once stays a secret (masking one more string is safe, forgetting one is not);
    and it is replaced whole under a lock, so threads read a consistent set without locking.
    Values shorter than 8 characters are ignored: masking a common word would garble text."""
    global _registered
    value = (value or "").strip()
    if len(value) < _MIN_ENV_SECRET or value == MASK:
        return False
    with _registering:
        _registered = _registered | {value}
    return True


def registered_secrets() -> frozenset[str]:
    """The values :func:`register_secret` took (for tests and `warden doctor`; never print them)."""
    return _registered


def url_password(url: str | None) -> str | None:
    """The password in ``scheme://user:PASSWORD@host/...`` as written (percent-encoded), None if none."""
    from urllib.parse import urlsplit

    try:
        return urlsplit(url or "").password or None
    except ValueError:
        return None


def _env_secrets() -> list[str]:
    """The known secret values, longest first: secret env vars (8+ characters) and registered ones."""
    values = (os.environ.get(name, "").strip() for name in SECRET_ENV_VARS)
    known = {v for v in values if len(v) >= _MIN_ENV_SECRET and v != MASK} | _registered
    return sorted(known, key=len, reverse=True)


_ANCHORS: tuple[str, ...] = (
    "sk-",
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "xox",
    "akia",
    "aiza",
)
_ANCHORS += ("eyj", "authorization", "bearer", "wdn_")
_NAMED = ("key", "token", "password", "passwd", "pwd", "secret")


def _anchored(low: str) -> bool:
    """Lowered text holds a URL with credentials' shape or a fixed anchor of a pattern."""
    return ("://" in low and "@" in low) or any(anchor in low for anchor in _ANCHORS)


def _may_hold_one(text: str) -> bool:
    """Cheap substring checks first: the regex tries every alternative at every position (about
    1 us a character), and most text scrubbed (findings, step outputs) holds no credential."""
    low = text.lower()
    if _anchored(low):
        return True
    return ("=" in text or ":" in text or '"' in text or "'" in text) and any(name in low for name in _NAMED)


def scrub(text: str) -> str:
    """`text` with every credential it recognises replaced by ``***``; idempotent, linear time."""
    return _scrub(text, _env_secrets())


def _scrub(text: str, env_secrets: list[str]) -> str:
    if not text:
        return text
    for value in env_secrets:
        if value in text:
            text = text.replace(value, MASK)
    return _PATTERN.sub(_mask, text) if _may_hold_one(text) else text


def scrub_data(obj: Any) -> Any:
    """`obj` with :func:`scrub` applied to every string in nested dicts, lists and tuples; a value
    under a key named like a credential (``api_key``, ``password``, ``Authorization``) is masked whole."""
    return _scrub_data(obj, _env_secrets())  # the environment read once (~10 us), not per string


def _scrub_data(obj: Any, env_secrets: list[str]) -> Any:
    if isinstance(obj, str):
        return _scrub(obj, env_secrets)
    if isinstance(obj, dict):
        return {
            key: MASK
            if isinstance(value, str) and value and _secret_key(key)
            else _scrub_data(value, env_secrets)
            for key, value in obj.items()
        }
    if isinstance(obj, list):
        return [_scrub_data(v, env_secrets) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_scrub_data(v, env_secrets) for v in obj)
    return obj


# A key name followed by what the patterns need after it (``=``, ``:`` or a closing quote),
# allowing for JSON's escapes between them (``\\n``, ``\\u001f``, ``\\"``). Matched on lowered
# text, only around an occurrence of a name (a regex over every position costs ~35 ns a character).
_JSON_GAP = r"(?:\s|\\[nrtbf]|\\u00[01][0-9a-fA-F])*"
_NAME_TAIL = re.compile(rf"(?:\\?[\"'])?{_JSON_GAP}[:=]")
_NAMED_USE = re.compile(rf"(?:{_KEY_NAMES})(?:\\?[\"'])?{_JSON_GAP}[:=]")
_LONGEST_NAME = 14  # "client_secret", "refresh_token": how far before its last word a key name starts


def _may_hold_anywhere(dumped: str) -> bool:
    """Whether any string in a JSON dump could be changed by :func:`scrub_data`: the anchors as
    :func:`_may_hold_one` has them, but a key name only where ``=`` or ``:`` follows it (in a
    dump, "key" and "token" are common words; a credential key is always followed by one)."""
    # (?i:) also matches "ſ" as s and "ı" as i, which lower() keeps: fold them as the patterns do
    low = dumped.lower().replace("\u017f", "s").replace("\u0131", "i")
    if len(low) != len(dumped) or _anchored(low):
        return True  # (a character whose lower case is longer: not worth reasoning about)
    for word in _NAMED:  # every key name ends in one of these words
        at = low.find(word)
        while at != -1:
            tail = _NAME_TAIL.match(low, at + len(word))
            if tail is not None and _NAMED_USE.search(low, max(0, at - _LONGEST_NAME), tail.end()):
                return True
            at = low.find(word, at + 1)
    return False


def dumps_scrubbed(obj: Any, **dumps: Any) -> str:
    """``json.dumps(scrub_data(obj), **dumps)``, non-JSON values as their scrubbed ``str``, at a
    fraction of the cost when nothing in `obj` can be a credential (almost every payload).

    The whole dump is checked once instead of every string in it: the anchors, key names and
    environment secrets :func:`scrub_data` looks for survive JSON's escaping verbatim (letters,
    digits and ``_-:/@=``; a secret holding a character JSON escapes is looked for escaped), so
    a dump that holds none of them is what the scrubbed value dumps to. Anything else takes the
    walk: a false alarm costs time, never a leak."""
    # checked as unescaped text (JSON's \\uXXXX would hide a non-ASCII letter or space)
    text = json.dumps(obj, default=str, **{**dumps, "ensure_ascii": False})
    secrets = _env_secrets()
    if _may_hold_anywhere(text) or any(
        v in text or json.dumps(v, ensure_ascii=False)[1:-1] in text for v in secrets
    ):
        return json.dumps(_scrub_data(obj, secrets), default=lambda v: _scrub(str(v), secrets), **dumps)
    return text if dumps.get("ensure_ascii") is False else json.dumps(obj, default=str, **dumps)


_SECRET_KEY = re.compile(rf"(?i:[A-Za-z0-9_-]*(?:{_KEY_NAMES})|authorization)")


@functools.lru_cache(maxsize=1024)
def _secret_key(key: object) -> bool:
    return isinstance(key, str) and _SECRET_KEY.fullmatch(key) is not None


def without_password(url: str | None) -> str | None:
    """The URL with any password (and key-like query value) replaced by ``***``, None if empty:
    for the audit trail and `warden doctor`. One implementation with :func:`scrub`."""
    if not url:
        return None
    return scrub(url.strip()) or None
