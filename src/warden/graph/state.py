"""The graph's state: small, JSON-mode, and the same shape for the root run and its children.

Large data (documents, step outputs) lives in the store and is referenced by id, so
checkpoints stay small and a resumed node reads exactly what a finished step wrote.
"""

from __future__ import annotations

from typing import Any, TypedDict

__all__ = ["RunState", "StateUpdate"]


class RunState(TypedDict, total=False):
    run_id: str
    root_run_id: str
    parent_run_id: str | None
    parent_step_id: str | None
    depth: int
    tenant: str
    requester: str
    document_paths: list[str]
    document_ids: list[str]
    document_error: str | None
    """Why a document could not be read, when the service read the documents itself (an engine
    running the graph elsewhere): the ingest node fails the run with it."""
    runbook: dict[str, Any] | None
    runbook_sha256: str | None
    parent_limits: dict[str, Any] | None
    parent_role: str | None
    """At depth > 0: the role that approves the parent run, and so this child (see
    :func:`warden.graph.nodes.approval.approval_role`)."""
    ancestor_runbooks: list[str]
    """At depth > 0: the runbook names the runs above this one run under, root first; a child
    under one of them is not approved (it would be published as a version of that runbook)."""
    limits: dict[str, Any] | None
    report: dict[str, Any] | None
    order: list[str]
    cursor: int
    status: str
    reason: str | None
    ledger: list[dict[str, Any]]
    """Ledger records (steps, findings, audit events) checkpointed but not yet written to the
    store: see :mod:`warden.graph.ledger`."""


StateUpdate = dict[str, Any]
"""What a node returns: the state keys it changes (LangGraph merges them into the state)."""
