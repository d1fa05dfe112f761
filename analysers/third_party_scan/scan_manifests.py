"""Dependency manifests: requirements*.txt, pyproject.toml, Pipfile, package.json and Gemfile.

A declared SDK is evidence even where no code imports it yet. Only runtime dependencies count:
``devDependencies``, Pipfile ``dev-packages`` and Poetry's non-main groups are build and test
tools that never receive users' data. A manifest that does not parse is read line by line.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable, Iterable
from typing import Any

from warden_analysers.third_party_scan.hits import Hit
from warden_analysers.third_party_scan.index import RecipientIndex

__all__ = ["is_manifest", "scan_manifest"]

_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_GEM = re.compile(r"""^\s*gem\s+["']([A-Za-z0-9._-]+)["']""")
_QUOTED = re.compile(r"""["']([A-Za-z0-9@][A-Za-z0-9@/._-]*)""")
_NPM_SECTIONS = ("dependencies", "peerDependencies", "optionalDependencies")


def is_manifest(name: str) -> bool:
    """Whether a file name is a dependency manifest this module reads."""
    return name in ("pyproject.toml", "Pipfile", "package.json", "Gemfile") or bool(
        re.fullmatch(r"requirements[\w.-]*\.(txt|in)", name)
    )


def scan_manifest(name: str, text: str, index: RecipientIndex) -> list[Hit]:
    """Hits for the dependencies a manifest declares; `name` is the file's name."""
    if name == "package.json":
        return _package_json(text, index)
    if name == "Gemfile":
        return _line_hits(text, _GEM, index.gem)
    if name in ("pyproject.toml", "Pipfile"):
        return _toml(name, text, index)
    return _requirements(text, index)


def _requirements(text: str, index: RecipientIndex) -> list[Hit]:
    """One requirement per line; options (-r, -e, --index-url) and comments are not packages."""
    hits = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = re.split(r"(?:^|\s)#", line, maxsplit=1)[0].strip()
        match = _REQUIREMENT.match(line)
        recipient = index.pypi(match.group(1)) if match else None
        if recipient:
            hits.append(Hit(recipient, number, line))
    return hits


def _line_hits(text: str, pattern: re.Pattern[str], lookup: Callable[[str], str | None]) -> list[Hit]:
    hits = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.lstrip().startswith("#"):
            continue
        for match in pattern.finditer(line):
            recipient = lookup(match.group(1))
            if recipient:
                hits.append(Hit(recipient, number, line.strip()))
    return hits


def _toml(name: str, text: str, index: RecipientIndex) -> list[Hit]:
    try:
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError):
        return _line_hits(text, _QUOTED, index.pypi) + _line_hits(text, _REQUIREMENT, index.pypi)
    if name == "Pipfile":
        names = list(_mapping(data.get("packages")))
    else:
        project = _mapping(data.get("project"))
        specs = list(_strings(project.get("dependencies")))
        for group in _mapping(project.get("optional-dependencies")).values():
            specs += _strings(group)
        poetry = _mapping(_mapping(data.get("tool")).get("poetry"))
        names = [m.group(1) for s in specs if (m := _REQUIREMENT.match(s))]
        names += [n for n in _mapping(poetry.get("dependencies")) if n != "python"]
        main = _mapping(_mapping(poetry.get("group")).get("main"))
        names += list(_mapping(main.get("dependencies")))
    return _declared(text, names, index.pypi)


def _package_json(text: str, index: RecipientIndex) -> list[Hit]:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return _line_hits(text, re.compile(r'"(@?[a-z0-9][a-z0-9._~/-]*)"\s*:'), index.npm)
    top = data if isinstance(data, dict) else {}
    names = [n for section in _NPM_SECTIONS for n in _mapping(top.get(section))]
    return _declared(text, names, index.npm)


def _declared(text: str, names: Iterable[str], lookup: Callable[[str], str | None]) -> list[Hit]:
    """Hits for parsed dependency names, each at the first line that names it."""
    lines = text.splitlines()
    hits = []
    for name in names:
        recipient = lookup(name)
        if not recipient:
            continue
        word = re.compile(rf"(?<![\w@/.-]){re.escape(name)}(?![\w/-])", re.IGNORECASE)
        number = next((i for i, line in enumerate(lines, start=1) if word.search(line)), 1)
        shown = lines[number - 1].strip() if lines else name
        hits.append(Hit(recipient, number, shown))
    return hits


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []
