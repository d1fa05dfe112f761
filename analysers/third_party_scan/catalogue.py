"""The catalogue of known third parties, read from ``recipients.yaml`` and validated once.

Every detector (an import name, a package, a host pattern, ...) belongs to exactly one recipient,
so a hit never has two readings; a broken catalogue is a coded error, never a wrong scan.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from warden.errors import LoadError
from warden.safeload import load_model, parse_text, read_text
from warden.schemas._base import StrictModel
from warden.schemas.scan import RecipientKind

__all__ = [
    "CATALOGUE_ERROR",
    "RECIPIENTS_FILE",
    "RecipientCatalogue",
    "RecipientSpec",
    "load_catalogue",
    "normalise_pypi",
]

RECIPIENTS_FILE = Path(__file__).parent / "recipients.yaml"
CATALOGUE_ERROR = "recipient_catalogue"
"""Error code of every problem with the catalogue file."""

HOST_PATTERN = r"^(\*\.)?[a-z0-9*-]+(\.[a-z0-9*-]+)*\.[a-z]{2,24}(/[A-Za-z0-9._~/-]*)?$"
"""``host`` or ``host/path-prefix``. A leading ``*.`` matches one or more labels; any other ``*``
matches characters within one label (``*-aiplatform.googleapis.com``, ``email.*.amazonaws.com``)."""


def normalise_pypi(name: str) -> str:
    """PEP 503 form: 'Sentry_SDK' and 'sentry-sdk' are one package."""
    return re.sub(r"[-_.]+", "-", name).lower()


class RecipientSpec(StrictModel):
    """One third party: what it is, where it processes data, and how code shows it is used."""

    name: str = Field(min_length=1, max_length=80, description="Canonical name, e.g. 'Google Analytics'.")
    kind: RecipientKind
    countries: list[str] = Field(min_length=1, description="ISO 3166 codes where it processes data.")
    data_categories: list[str] = Field(min_length=1, description="fideslang keys it typically receives.")
    python: list[str] = Field(
        default_factory=list, description="Import names; a dotted name covers its submodules."
    )
    pypi: list[str] = Field(default_factory=list, description="PyPI package names (any spelling).")
    npm: list[str] = Field(default_factory=list, description="npm packages; '@scope/*' covers a whole scope.")
    gems: list[str] = Field(default_factory=list, description="RubyGems names (Gemfile).")
    hosts: list[str] = Field(default_factory=list, description="Endpoint and script hosts, see HOST_PATTERN.")
    js_globals: list[str] = Field(default_factory=list, description="Globals its browser snippet defines.")
    env_vars: list[str] = Field(
        default_factory=list, description="Prefixes of its variables in .env templates."
    )

    @field_validator("countries")
    @classmethod
    def _iso_codes(cls, value: list[str]) -> list[str]:
        return _all_match(value, r"[A-Z]{2}", "countries (ISO 3166 alpha-2 codes)")

    @field_validator("data_categories")
    @classmethod
    def _fideslang_shape(cls, value: list[str]) -> list[str]:
        return _all_match(value, r"user(\.[a-z_]+)*", "data categories (fideslang user.* keys)")

    @field_validator("python")
    @classmethod
    def _import_names(cls, value: list[str]) -> list[str]:
        return _all_match(value, r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*", "python import names")

    @field_validator("pypi")
    @classmethod
    def _pypi_names(cls, value: list[str]) -> list[str]:
        return [
            normalise_pypi(n) for n in _all_match(value, r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?", "pypi")
        ]

    @field_validator("npm")
    @classmethod
    def _npm_names(cls, value: list[str]) -> list[str]:
        return _all_match(value, r"(@[a-z0-9][a-z0-9._~-]*/)?([a-z0-9][a-z0-9._~-]*|\*)", "npm packages")

    @field_validator("gems")
    @classmethod
    def _gem_names(cls, value: list[str]) -> list[str]:
        return _all_match(value, r"[A-Za-z0-9][A-Za-z0-9._-]*", "gems")

    @field_validator("hosts")
    @classmethod
    def _host_patterns(cls, value: list[str]) -> list[str]:
        return _all_match(value, HOST_PATTERN[1:-1], "hosts (lower-case host or host/path)")

    @field_validator("js_globals")
    @classmethod
    def _globals(cls, value: list[str]) -> list[str]:
        return _all_match(value, r"[A-Za-z_$][\w$]{1,}", "js_globals")

    @field_validator("env_vars")
    @classmethod
    def _env_prefixes(cls, value: list[str]) -> list[str]:
        return _all_match(value, r"[A-Z][A-Z0-9_]{2,}", "env_vars (upper-case prefixes)")

    @model_validator(mode="after")
    def _detectable(self) -> RecipientSpec:
        if not (self.python or self.pypi or self.npm or self.gems or self.hosts or self.js_globals):
            raise ValueError(f"recipient '{self.name}' has no detector (python, pypi, npm, gems, hosts, ...)")
        return self

    def detectors(self) -> list[tuple[str, str]]:
        """(field, value) of every detector, for the one-owner check."""
        fields = ("python", "pypi", "npm", "gems", "hosts", "js_globals", "env_vars")
        return [(f, v) for f in fields for v in getattr(self, f)]


def _all_match(values: list[str], pattern: str, what: str) -> list[str]:
    bad = [v for v in values if not re.fullmatch(pattern, v)]
    if bad:
        raise ValueError(f"{what}: {bad} are not well formed")
    return values


class RecipientCatalogue(StrictModel):
    """Every known third party, each name and each detector used once."""

    version: Literal[1] = 1
    recipients: list[RecipientSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> RecipientCatalogue:
        names = [r.name.lower() for r in self.recipients]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"recipient names used twice: {twice}")
        owner: dict[tuple[str, str], str] = {}
        clashes = []
        for spec in self.recipients:
            for detector in spec.detectors():
                if detector in owner and owner[detector] != spec.name:
                    clashes.append(f"{detector[0]} '{detector[1]}' ({owner[detector]}, {spec.name})")
                owner.setdefault(detector, spec.name)
        if clashes:
            raise ValueError("detectors claimed by two recipients: " + "; ".join(clashes))
        return self


@lru_cache(maxsize=4)
def load_catalogue(path: Path = RECIPIENTS_FILE) -> RecipientCatalogue:
    """Validated at first use through the safe loader; any problem is a ``recipient_catalogue`` error."""
    try:
        parsed = parse_text(read_text(path), source=str(path))
        return load_model(RecipientCatalogue, parsed, what="recipient catalogue")
    except LoadError as exc:
        raise LoadError(
            exc.reason,
            source=exc.source or str(path),
            line=exc.line,
            path=exc.path,
            fix="fix the recipients catalogue; each entry needs name, kind, countries, data_categories "
            "and at least one detector",
            code=CATALOGUE_ERROR,
        ) from None
