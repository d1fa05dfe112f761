"""Lookups from what a scanner read (an import, a package, a host) to a catalogue recipient.

Where several detectors could match, the most specific wins: the longest dotted import prefix,
an exact npm name over a scope wildcard, the longest host pattern. So ``gtag/js`` on the Tag
Manager host means Google Analytics, and the bare host means Google Tag Manager.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from warden_analysers.third_party_scan.catalogue import (
    RECIPIENTS_FILE,
    RecipientCatalogue,
    RecipientSpec,
    load_catalogue,
    normalise_pypi,
)

__all__ = ["HostRule", "RecipientIndex", "default_index"]


@dataclass(frozen=True)
class HostRule:
    """One host pattern compiled: the host as a regex, an optional path prefix, its specificity."""

    host: re.Pattern[str]
    path: str
    weight: int
    recipient: str

    @classmethod
    def compile(cls, pattern: str, recipient: str) -> HostRule:
        host, slash, path = pattern.partition("/")
        parts = []
        for i, label in enumerate(host.split(".")):
            if label == "*" and i == 0:
                parts.append(r"(?:[a-z0-9-]+\.)*[a-z0-9-]+")
            else:
                parts.append("[a-z0-9-]*".join(re.escape(piece) for piece in label.split("*")))
        weight = len(pattern.replace("*", ""))
        return cls(re.compile(r"\.".join(parts)), slash + path if slash else "", weight, recipient)

    def matches(self, host: str, path: str) -> bool:
        return bool(self.host.fullmatch(host)) and path.startswith(self.path)


class RecipientIndex:
    """Every detector of a catalogue, keyed for the scanners."""

    def __init__(self, catalogue: RecipientCatalogue) -> None:
        self.specs: dict[str, RecipientSpec] = {r.name: r for r in catalogue.recipients}
        self._python: dict[str, str] = {}
        self._pypi: dict[str, str] = {}
        self._npm: dict[str, str] = {}
        self._gems: dict[str, str] = {}
        self._env: list[tuple[str, str]] = []
        self._hosts: list[HostRule] = []
        js: dict[str, str] = {}
        for spec in catalogue.recipients:
            self._python.update(dict.fromkeys(spec.python, spec.name))
            self._pypi.update(dict.fromkeys(spec.pypi, spec.name))
            self._npm.update(dict.fromkeys(spec.npm, spec.name))
            self._gems.update(dict.fromkeys((g.lower() for g in spec.gems), spec.name))
            self._env += [(prefix, spec.name) for prefix in spec.env_vars]
            self._hosts += [HostRule.compile(h, spec.name) for h in spec.hosts]
            js.update(dict.fromkeys(spec.js_globals, spec.name))
        self._hosts.sort(key=lambda rule: -rule.weight)
        self._js = js
        names = "|".join(re.escape(g) for g in sorted(js, key=len, reverse=True))
        self.js_globals: re.Pattern[str] | None = (
            re.compile(rf"(?<![\w$.])({names})\s*[(.=]") if names else None
        )
        """A use of a catalogue global: ``fbq(``, ``Intercom(``, ``_linkedin_partner_id =``."""

    def python(self, module: str) -> str | None:
        """The recipient of an imported module: its longest dotted prefix in the catalogue."""
        parts = module.split(".")
        for end in range(len(parts), 0, -1):
            found = self._python.get(".".join(parts[:end]))
            if found:
                return found
        return None

    def pypi(self, name: str) -> str | None:
        return self._pypi.get(normalise_pypi(name))

    def npm(self, name: str) -> str | None:
        """An exact package first, then its scope's wildcard (``@sentry/*``)."""
        if name in self._npm:
            return self._npm[name]
        if name.startswith("@") and "/" in name:
            return self._npm.get(name.split("/", 1)[0] + "/*")
        return None

    def gem(self, name: str) -> str | None:
        return self._gems.get(name.lower())

    def host(self, host: str, path: str = "") -> str | None:
        """The recipient of an endpoint: the most specific host pattern matching it."""
        host = host.lower().rstrip(".")
        return next((rule.recipient for rule in self._hosts if rule.matches(host, path or "/")), None)

    def js_global(self, name: str) -> str | None:
        return self._js.get(name)

    def env(self, variable: str) -> str | None:
        """The recipient whose longest prefix starts the variable name."""
        found = [(len(p), r) for p, r in self._env if variable.startswith(p)]
        return max(found)[1] if found else None


@lru_cache(maxsize=4)
def default_index(path: Path = RECIPIENTS_FILE) -> RecipientIndex:
    """The index of the bundled catalogue, built once per process."""
    return RecipientIndex(load_catalogue(path))
