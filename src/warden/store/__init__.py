"""The DuckDB store: runs with lineage, steps, findings, approvals, versions, audit, costs, LLM calls,
documents.

Modules hold one table family each; every function takes an open connection so a node can
group its writes into one short transaction (``with store.connect() as con: ...``).
"""

from warden.store import approvals, audit, costs, documents, findings, llm_calls, reads, runs, steps, triage
from warden.store.connection import Store, StoreBusy

__all__ = [
    "Store",
    "StoreBusy",
    "approvals",
    "audit",
    "costs",
    "documents",
    "findings",
    "llm_calls",
    "reads",
    "runs",
    "steps",
    "triage",
]
