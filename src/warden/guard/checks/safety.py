"""Input safety: no template expression but plain references, no path outside allowed roots.

Runbooks can be drafted from untrusted document text; this is where text that tries to
smuggle an expression or reach another folder is stopped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from warden.governance.policy import resolve
from warden.guard.checks._base import analyser_steps, issue
from warden.guard.context import GuardContext
from warden.runbooks.templates import iter_strings, looks_like_template, parse_reference
from warden.schemas.report import GuardIssue
from warden.schemas.runbook import RunbookDefinition, WorkflowStep

__all__ = ["check_paths", "check_templates"]

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_PATH_KEY = re.compile(r"(^|_)(path|paths|file|files|dir|dirs|directory|folder|root|roots|location)$")
_REFERENCE_PLACES = re.compile(r"^steps\[\d+\]\.(execute_workflow|config(\.|\[|$))")
FILE_SYSTEM_TYPES = frozenset({"sqlite", "duckdb", "csv", "parquet", "source", "jsonl"})


def _own_strings(runbook: RunbookDefinition) -> Iterator[tuple[str, str]]:
    """Strings of this runbook, leaving inline children to their own pass."""
    data = runbook.model_dump(mode="json")
    for i, step in enumerate(runbook.steps):
        if isinstance(step, WorkflowStep) and not isinstance(step.execute_workflow, str):
            data["steps"][i]["execute_workflow"] = None
    yield from iter_strings(data)


def check_templates(runbook: RunbookDefinition, ctx: GuardContext) -> Iterator[GuardIssue]:
    for path, value in _own_strings(runbook):
        if _CONTROL.search(value):
            yield issue(
                "unsafe_input",
                path,
                "contains control characters",
                fix="remove control characters; runbooks are plain text",
            )
        if not looks_like_template(value):
            continue
        if parse_reference(value) is None:
            yield issue(
                "unsafe_input",
                path,
                f"template expression {_short(value)} is not a plain reference",
                fix="only '{{ steps.<id>.output }}' and '{{ inputs.<name> }}' are allowed, alone",
            )
        elif not _REFERENCE_PLACES.match(path):
            yield issue(
                "unsafe_input",
                path,
                f"reference {_short(value)} appears where references are not resolved",
                fix="references belong in execute_workflow or a step's config",
            )


def check_paths(runbook: RunbookDefinition, ctx: GuardContext) -> Iterator[GuardIssue]:
    assert ctx.policy is not None and ctx.tenant is not None
    roots = ctx.policy.allowed_roots(ctx.tenant)
    base = ctx.policy.base_dir
    for i, step in analyser_steps(runbook):
        for path, value in _config_paths(step.config, f"steps[{i}].config"):
            local = _local_path(value)
            if local is None or not _inside(resolve(base, local), roots):
                yield issue(
                    "unsafe_input",
                    path,
                    f"path '{_short(value)}' is outside the tenant's allowed roots",
                    fix="use a path under: " + (", ".join(map(str, roots)) or "(no roots are allowed)"),
                )
        found = ctx.policy.find_system(step.system) if step.system else None
        if found is None:
            continue
        owner, system = found
        own_file_system = owner == ctx.tenant and system.type in FILE_SYSTEM_TYPES
        if own_file_system and not _inside(resolve(base, system.location), roots):
            yield issue(
                "unsafe_input",
                f"steps[{i}].system",
                f"system '{step.system}' lives at '{system.location}', outside the allowed roots",
                fix="move the system under an allowed root, or add its folder to allowed_roots",
            )


def _config_paths(config: object, prefix: str) -> Iterator[tuple[str, str]]:
    for path, value in iter_strings(config, prefix, keys=False):
        key = path.rsplit(".", 1)[-1].split("[", 1)[0]
        if parse_reference(value):
            continue
        if _PATH_KEY.search(key) or _looks_like_path(value):
            yield path, value


def _local_path(value: str) -> str | None:
    """A POSIX path for `value`, or None for forms we refuse (Windows paths, other schemes)."""
    if value.startswith("file:"):
        from urllib.parse import unquote, urlparse

        value = unquote(urlparse(value).path)
    if "\\" in value or "://" in value or re.match(r"^[A-Za-z]:", value) or "\x00" in value:
        return None
    return value


def _looks_like_path(value: str) -> bool:
    return value.startswith(("/", "~", "file:", "\\")) or ".." in Path(value).parts or "../" in value


def _inside(path: Path, roots: list[Path]) -> bool:
    return any(path == root or path.is_relative_to(root) for root in roots)


def _short(value: str, limit: int = 60) -> str:
    return repr(value if len(value) <= limit else value[:limit] + "…")
