"""Runbook versions and what changed between them: the published record of approved runbooks."""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from typing import Any

from warden.errors import UsageError
from warden.investigate.source import Source
from warden.store import reads

__all__ = ["VersionDiff", "runbook_versions", "version_diff", "versions_of_run"]


@dataclass(frozen=True)
class VersionDiff:
    """Two approved versions of one runbook: a one-line summary and the YAML diff."""

    tenant: str
    runbook: str
    old: int | None
    new: int
    summary: str
    diff: str


def runbook_versions(source: Source, tenant: str, runbook: str) -> list[dict[str, Any]]:
    """Every approved version of a tenant's runbook, oldest first, definitions decoded."""
    with source.connect() as con:
        rows = reads.runbook_versions(con, tenant, runbook)
    for row in rows:
        row["definition"] = json.loads(row.pop("definition_json"))
    return rows


def versions_of_run(source: Source, run_id: str) -> list[dict[str, Any]]:
    """The runbook version each run of the tree executed: run, runbook, version, sha256."""
    with source.connect() as con:
        source.run(run_id)
        return reads.versions_of_tree(con, run_id)


def version_diff(
    source: Source, tenant: str, runbook: str, old: int | None = None, new: int | None = None
) -> VersionDiff:
    """What changed from version `old` to `new` (default: the latest and the one before it).

    With a single version, `old` is None and the diff shows the whole runbook as added.
    """
    from warden.runbooks.diff import change_summary
    from warden.runbooks.load import dump_runbook
    from warden.schemas.runbook import RunbookDefinition

    versions = {v["version_no"]: v for v in runbook_versions(source, tenant, runbook)}
    if not versions:
        raise UsageError(
            f"no approved versions of runbook '{runbook}' for tenant '{tenant}'",
            fix="see versions_of_run(source, run_id) for the runbooks a run used",
            code="unknown_runbook",
        )
    new = max(versions) if new is None else new
    old = (max((v for v in versions if v < new), default=None)) if old is None else old
    for number in (new, old):
        if number is not None and number not in versions:
            raise UsageError(
                f"runbook '{runbook}' has no version {number}",
                fix=f"use one of: {', '.join(map(str, sorted(versions)))}",
                code="unknown_version",
            )
    before = RunbookDefinition.model_validate(versions[old]["definition"]) if old is not None else None
    after = RunbookDefinition.model_validate(versions[new]["definition"])
    lines_before = dump_runbook(before).splitlines(keepends=True) if before is not None else []
    diff = "".join(
        difflib.unified_diff(
            lines_before,
            dump_runbook(after).splitlines(keepends=True),
            fromfile=f"{runbook} v{old}" if old is not None else "(no earlier version)",
            tofile=f"{runbook} v{new}",
        )
    )
    return VersionDiff(tenant, runbook, old, new, change_summary(before, after), diff)
