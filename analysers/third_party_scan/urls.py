"""Finding endpoint hosts in text: URLs, protocol-relative URLs and bare host names.

Evidence keeps only the host and path: credentials in a URL (a Sentry DSN's key) and query
strings (ids, tokens) never reach a finding.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from warden_analysers.third_party_scan.hits import Hit, LineIndex
from warden_analysers.third_party_scan.index import RecipientIndex

__all__ = ["Endpoint", "find_endpoints", "host_hits"]

_HOST = re.compile(
    r"(?<![\w.-])((?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,24})(?![\w-])"
    r"(?::\d{1,5})?(/[A-Za-z0-9._~/%+-]*)?",
    re.IGNORECASE,
)
"""A host name (optionally with port and path), not preceded by a word, dot or hyphen."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A host (lower-case) and path seen at an offset of a text."""

    offset: int
    host: str
    path: str

    def shown(self) -> str:
        return self.host + self.path


def find_endpoints(text: str) -> Iterator[Endpoint]:
    """Every host-like token in `text`; most are not in the catalogue and are dropped by the caller."""
    for match in _HOST.finditer(text):
        yield Endpoint(match.start(1), match.group(1).lower(), match.group(2) or "")


def host_hits(text: str, index: RecipientIndex, lines: LineIndex, base_line: int = 0) -> list[Hit]:
    """Hits for every catalogue endpoint in `text`; `base_line` shifts lines for embedded text."""
    hits = []
    for endpoint in find_endpoints(text):
        recipient = index.host(endpoint.host, endpoint.path)
        if recipient:
            hits.append(Hit(recipient, base_line + lines.line(endpoint.offset), endpoint.shown()))
    return hits
