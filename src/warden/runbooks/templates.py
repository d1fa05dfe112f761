"""Template references in runbooks: the only expressions Warden ever resolves.

A runbook may say ``{{ steps.plan.output }}`` or ``{{ inputs.document }}`` and nothing else:
no filters, calls, attribute walks or blocks. Anything that looks like a template but is not
a plain reference is refused by the guard (``unsafe_input``), so text a planner copied from an
untrusted document can never become code.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["Reference", "iter_strings", "looks_like_template", "parse_reference"]

_NAME = r"[a-z][a-z0-9_-]{0,63}"
_REFERENCE = re.compile(
    rf"^\{{\{{\s*(?:steps\.(?P<step>{_NAME})\.output|inputs\.(?P<input>{_NAME}))\s*\}}\}}$"
)
# Markers of Jinja, shell-style, Ruby-style and ERB-style interpolation.
_TEMPLATE_MARKERS = re.compile(r"\{\{|\}\}|\{%|%\}|\$\{|#\{|<%")


@dataclass(frozen=True)
class Reference:
    """A resolved reference: the output of a step, or a runbook input."""

    kind: Literal["step", "input"]
    name: str


def parse_reference(value: str) -> Reference | None:
    """The reference `value` spells exactly, or None when it is not a plain reference."""
    match = _REFERENCE.match(value)
    if not match:
        return None
    if match.group("step"):
        return Reference("step", match.group("step"))
    return Reference("input", match.group("input"))


def looks_like_template(value: str) -> bool:
    """True when `value` contains any interpolation marker."""
    return bool(_TEMPLATE_MARKERS.search(value))


def iter_strings(value: Any, path: str = "", *, keys: bool = True) -> Iterator[tuple[str, str]]:
    """Every string inside plain data, with its dotted path; mapping keys too unless keys=False."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            if keys and isinstance(key, str):
                yield child, key
            yield from iter_strings(item, child, keys=keys)
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from iter_strings(item, f"{path}[{i}]", keys=keys)
