"""Configuration files: endpoint hosts, and the variables that ``.env`` templates declare.

Only templates (``.env.example``, ``.env.sample``, ...) are read among env files: a real
``.env`` holds secrets, and Warden has no business reading them. From a template only variable
names are reported, never values. Comment lines do not count.
"""

from __future__ import annotations

import re

from warden_analysers.third_party_scan.hits import Hit, LineIndex
from warden_analysers.third_party_scan.index import RecipientIndex
from warden_analysers.third_party_scan.urls import host_hits

__all__ = ["CONFIG_SUFFIXES", "ENV_TEMPLATES", "is_config", "is_env_secret", "scan_config"]

CONFIG_SUFFIXES = (".yaml", ".yml", ".toml", ".ini", ".cfg", ".conf", ".properties", ".json", ".xml")
ENV_TEMPLATES = (".env.example", ".env.sample", ".env.template", ".env.dist", ".env.defaults")
_ENV_LINE = re.compile(r"^\s*(?:export\s+)?([A-Z][A-Z0-9_]*)\s*=")
_COMMENT = re.compile(r"^\s*(?:#|;|//)")


def is_env_secret(name: str) -> bool:
    """A real env file (``.env``, ``.env.production``, ``prod.env``): skipped, it holds secrets."""
    return (name == ".env" or name.startswith(".env.") or name.endswith(".env")) and name not in ENV_TEMPLATES


def is_config(name: str) -> bool:
    """Whether a file name is a configuration file or env template this module reads."""
    return name in ENV_TEMPLATES or name.lower().endswith(CONFIG_SUFFIXES)


def scan_config(name: str, text: str, index: RecipientIndex) -> list[Hit]:
    """Hits for catalogue hosts (and, in env templates, variable names) outside comment lines."""
    kept = "\n".join("" if _COMMENT.match(line) else line for line in text.split("\n"))
    hits = host_hits(kept, index, LineIndex(kept))
    if name in ENV_TEMPLATES:
        for number, line in enumerate(kept.split("\n"), start=1):
            match = _ENV_LINE.match(line)
            recipient = index.env(match.group(1)) if match else None
            if recipient:
                hits.append(Hit(recipient, number, match.group(1)))  # type: ignore[union-attr]
    return hits
