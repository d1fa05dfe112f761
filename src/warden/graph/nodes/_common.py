"""Helpers the nodes share: audit with a stable key, and status changes that are also audited."""

from __future__ import annotations

from typing import Any

from warden.credentials import scrub
from warden.graph.context import RunContext
from warden.graph.state import RunState, StateUpdate
from warden.runbooks.hashing import sha256_of
from warden.schemas.runbook import RunbookDefinition
from warden.schemas.status import RunStatus
from warden.store import audit, ledger, runs

__all__ = ["event", "record", "runbook_model", "runbook_sha256", "set_status", "status_in"]


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


def event(
    state: RunState,
    name: str,
    actor: str = "warden",
    payload: dict[str, Any] | None = None,
    key: str | None = None,
) -> dict[str, Any]:
    """:func:`record`'s event as a ledger record (stamped now, keyed the same way), for a node to
    write with its other records in one :func:`warden.store.ledger.flush`: the flush's one key
    check and chain-head read serve them all, where each :func:`record` costs two statements."""
    return ledger.audit_record(
        run_id=state["run_id"],
        root_run_id=state["root_run_id"],
        tenant=state["tenant"],
        actor=actor,
        event=name,
        payload=payload,
        key=key if key is not None else f"{state['run_id']}:{name}",
    )


def set_status(
    ctx: RunContext,
    state: RunState,
    status: RunStatus,
    reason: str | None = None,
    pending: list[dict[str, Any]] | None = None,
) -> StateUpdate:
    """Persist a status change with its audit event, and return the state update. The run's
    pending ledger records (`pending`, default the state's) are written first, in the same
    transaction."""
    with ctx.store.connect() as con:
        status_in(con, state, status, reason, state.get("ledger") if pending is None else pending)
    # the reason also lands in the checkpoint: no credential may ride along
    return {"status": status, "reason": scrub(reason) if reason else reason, "ledger": []}


def status_in(
    con: Any, state: RunState, status: RunStatus, reason: str | None, pending: list[dict[str, Any]] | None
) -> None:
    """:func:`set_status`'s writes, inside the caller's transaction: the pending records, then the
    status change's event (chained after them), in one flush."""
    ledger.flush(con, [*(pending or []), event(state, f"status:{status}", payload={"reason": reason})])
    runs.set_status(con, state["run_id"], status, reason)


def runbook_model(
    ctx: RunContext, data: Any, validated: RunbookDefinition | None = None
) -> RunbookDefinition:
    """The state's runbook (`data`, valid: the guard passed it) as a model, validated once per
    invocation: guard, approval and the steps after them get the same dict from LangGraph,
    while each validation costs ~0.7 ms. `validated` is the model `data` was dumped from (plan,
    an approval): the dump validates back to it, as the step gate's hash check relies on.
    Keyed by the dict itself (held, so its id stays its own); nodes never change a state value
    in place, nor a model they get."""
    key = ("runbook_model", id(data))
    found = ctx.memo.get(key)
    if validated is not None or found is None or found[0] is not data:
        found = (data, validated if validated is not None else RunbookDefinition.model_validate(data))
        ctx.memo[key] = found
    model: RunbookDefinition = found[1]
    return model


def runbook_sha256(ctx: RunContext, model: RunbookDefinition) -> str:
    """:func:`~warden.runbooks.hashing.sha256_of` `model`, hashed once per invocation: plan,
    an approval and the step gate hash the same model (:func:`runbook_model` hands each the
    one object), each hash a JSON dump of the whole runbook. Keyed by the model itself (held,
    so its id stays its own); nodes never change a model they get."""
    key = ("runbook_sha256", id(model))
    found = ctx.memo.get(key)
    if found is None or found[0] is not model:
        found = ctx.memo[key] = (model, sha256_of(model))
    sha: str = found[1]
    return sha
