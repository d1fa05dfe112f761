"""What changed between two versions of a runbook, for reviewers and the publishing record."""

from __future__ import annotations

import difflib

from warden.runbooks.load import dump_runbook
from warden.schemas.runbook import RunbookDefinition

__all__ = ["change_summary", "diff_runbooks"]


def diff_runbooks(old: RunbookDefinition | None, new: RunbookDefinition) -> str:
    """Unified diff of the YAML a reviewer reads; everything is new when there is no old.

    Equal models dump to the same YAML, whose diff is empty: a draft of the version approved
    last (a runbook run again, every analysis) skips the two YAML dumps (~3 ms each)."""
    if old is not None and old == new:
        return ""
    before = dump_runbook(old).splitlines(keepends=True) if old else []
    after = dump_runbook(new).splitlines(keepends=True)
    label = "(no approved version)" if old is None else f"approved v{old.version}"
    return "".join(difflib.unified_diff(before, after, fromfile=label, tofile="draft"))


def change_summary(old: RunbookDefinition | None, new: RunbookDefinition) -> str:
    """One line: steps added, removed and changed, and top-level fields that changed."""
    if old is None:
        return f"first approved version: {len(new.steps)} step(s)"
    old_steps = {s.id: s.model_dump(mode="json") for s in old.steps}
    new_steps = {s.id: s.model_dump(mode="json") for s in new.steps}
    added = sorted(set(new_steps) - set(old_steps))
    removed = sorted(set(old_steps) - set(new_steps))
    changed = sorted(k for k in set(new_steps) & set(old_steps) if new_steps[k] != old_steps[k])
    fields = [
        name
        for name in ("description", "inputs", "limits", "approval", "model")
        if getattr(old, name) != getattr(new, name)
    ]
    parts = []
    for word, ids in (("added", added), ("removed", removed), ("changed", changed)):
        if ids:
            parts.append(f"{word} step(s) {', '.join(ids)}")
    if fields:
        parts.append(f"changed {', '.join(fields)}")
    return "; ".join(parts) or "no change"
