"""Helpers the nodes share: audit with a stable key, and status changes that are also audited."""

from __future__ import annotations

from typing import Any

from warden.credentials import scrub
from warden.graph.context import RunContext
from warden.graph.state import RunState, StateUpdate
from warden.schemas.status import RunStatus
from warden.store import audit, runs

__all__ = ["record", "set_status"]


def record(
    con: Any,
    state: RunState,
    event: str,
    actor: str = "warden",
    payload: dict[str, Any] | None = None,
    key: str | None = None,
) -> None:
    """Audit an event of this run; `key` (default: run + event) keeps re-run nodes from logging twice."""
    audit.audit(
        con,
        run_id=state["run_id"],
        root_run_id=state["root_run_id"],
        tenant=state["tenant"],
        actor=actor,
        event=event,
        payload=payload,
        key=key if key is not None else f"{state['run_id']}:{event}",
    )


def set_status(ctx: RunContext, state: RunState, status: RunStatus, reason: str | None = None) -> StateUpdate:
    """Persist a status change with its audit event, and return the state update."""
    with ctx.store.connect() as con:
        runs.set_status(con, state["run_id"], status, reason)
        record(con, state, f"status:{status}", payload={"reason": reason})
    # the reason also lands in the checkpoint: no credential may ride along
    return {"status": status, "reason": scrub(reason) if reason else reason}
