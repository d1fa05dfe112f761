"""Steps in dependency order (stable: ties keep the runbook's order)."""

from __future__ import annotations

from warden.guard import dependencies
from warden.schemas.runbook import RunbookDefinition

__all__ = ["execution_order"]


def execution_order(runbook: RunbookDefinition) -> list[str]:
    """Kahn's algorithm; the guard has already refused cycles."""
    deps = dependencies(runbook)
    done: list[str] = []
    pending = [s.id for s in runbook.steps]
    while pending:
        ready = next(s for s in pending if all(d in done for d in deps[s]))
        done.append(ready)
        pending.remove(ready)
    return done
