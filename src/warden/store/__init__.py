"""The DuckDB store: runs with lineage, steps, findings, approvals, versions, audit, costs, LLM calls,
documents.

Modules hold one table family each; every function takes an open connection so a node can
group its writes into one short transaction (``with store.connect() as con: ...``).
"""

from warden.store import (
    approval_queue,
    approvals,
    audit,
    comments,
    costs,
    documents,
    findings,
    ledger,
    llm_calls,
    notifications,
    reads,
    runs,
    steps,
    triage,
)
from warden.store.connection import Store, StoreBusy, is_write_conflict, retrying_conflicts

__all__ = [
    "Store",
    "StoreBusy",
    "approval_queue",
    "approvals",
    "audit",
    "comments",
    "costs",
    "documents",
    "findings",
    "is_write_conflict",
    "ledger",
    "llm_calls",
    "notifications",
    "reads",
    "retrying_conflicts",
    "runs",
    "steps",
    "triage",
]
