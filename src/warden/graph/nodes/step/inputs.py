"""What a step reads: the run's documents, and the outputs of the steps before it (from the
store, or from records still pending in the checkpoint).
"""

from __future__ import annotations

import json
from typing import Any

from warden.graph.context import RunContext
from warden.graph.state import RunState
from warden.schemas.runbook import AnalyserStep, RunbookDefinition
from warden.store import documents, steps

__all__ = ["decoded", "produced_here", "step_inputs"]


def produced_here(state: RunState, pending: list[dict[str, Any]]) -> dict[str, str | None]:
    """Outputs of this run's steps whose records are still pending, by step id, as the JSON
    text the store would hold (masked): decode with :func:`decoded`."""
    return {
        r["step_id"]: r["output_json"] for r in pending if r["t"] == "step" and r["run_id"] == state["run_id"]
    }


def decoded(text: str | None) -> Any:
    return json.loads(text) if text else None


def step_inputs(
    ctx: RunContext,
    state: RunState,
    runbook: RunbookDefinition,
    current: AnalyserStep,
    pending: list[dict[str, Any]],
) -> dict[str, Any]:
    """A runbook input is the run's document; several documents are handed over as one set
    (``warden.documents.sets.combine``), read as one notice whose passages name their document."""
    from warden.documents.sets import combine

    out: dict[str, Any] = {}
    here = produced_here(state, pending)
    if not current.input:
        return out
    with ctx.store.connect(read_only=True) as con:
        for name in current.input:
            if name in here:  # a step whose records are not flushed yet
                out[name] = decoded(here[name])
            elif name in runbook.inputs:
                # a stored document never changes (its id is its content's hash): read, parse
                # and combine once per invocation, not for every step; each step gets its own dict
                key = ("documents", tuple(state.get("document_ids") or []))
                document = ctx.memo.get(key)
                if document is None:
                    stored = [documents.get_document(con, d, state["root_run_id"]) for d in key[1]]
                    found = [d for d in stored if d is not None]
                    document = combine(found) if found and len(found) == len(stored) else None
                    if document is not None:
                        ctx.memo[key] = document
                out[name] = document.model_dump(mode="json") if document else None
            else:
                produced = steps.get_step(con, state["run_id"], name)
                out[name] = produced["output"] if produced else None
    return out
