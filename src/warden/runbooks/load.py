"""Runbooks from YAML or JSON files or text, into validated models with pointing errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from warden.safeload import DEFAULT_LIMITS, Limits, Parsed, load_model, parse_text, read_text
from warden.schemas.runbook import RunbookDefinition

__all__ = ["dump_runbook", "parse_runbook", "read_runbook", "runbook_from_data"]


def read_runbook(path: str | Path, limits: Limits = DEFAULT_LIMITS) -> Parsed:
    """Read and parse a runbook file into plain data (not yet validated)."""
    return parse_text(read_text(path, limits), source=str(path), limits=limits)


def parse_runbook(text: str, source: str | None = None) -> RunbookDefinition:
    """Parse and validate runbook text; raises LoadError naming the line and field."""
    return load_model(RunbookDefinition, parse_text(text, source), what="runbook")


def runbook_from_data(data: Any, source: str | None = None) -> RunbookDefinition:
    """Validate already-parsed data (e.g. a planner's output) as a runbook."""
    return load_model(RunbookDefinition, Parsed(data=data, source=source), what="runbook")


def dump_runbook(runbook: RunbookDefinition) -> str:
    """YAML text of a runbook, defaults omitted, in field order: what reviewers read and edit.

    libyaml's emitter when PyYAML has it: every approval diffs two dumps, and the pure-Python
    emitter took ~13 ms per runbook. The two fold long quoted strings differently; both load
    back to the same data, and approvals are bound to the model's hash, not to this text."""
    import yaml

    data = runbook.model_dump(mode="json", exclude_defaults=True)
    data.setdefault("version", runbook.version)
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(data, Dumper=dumper, sort_keys=False, allow_unicode=True, width=100)
