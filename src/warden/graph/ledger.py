"""The checkpoint as the ledger's write-ahead log.

A step's ledger rows (its ``steps`` row, findings and ``step_completed`` event, built by
:mod:`warden.store.ledger`) are returned in the state's ``ledger`` list, so LangGraph
checkpoints them atomically with the cursor that marks the step done. They are written to
DuckDB in one transaction (:func:`warden.store.ledger.flush`, idempotent by key):

- when :data:`FLUSH_RECORDS` records or :data:`FLUSH_BYTES` of them are pending, or the oldest
  is :data:`FLUSH_AFTER_S` old, at the start of the next step;
- before any other write of the run (a status change, a child run, the run's finish), in the
  same transaction, so the audit trail keeps its order and nothing waits for an approval
  unflushed;
- at the start of an invocation (a resume), before the step gate is read;
- when an analyser runs past a second and the file is given back to other processes, so they
  see the finished steps and the one in flight.

A kill loses nothing: pending records are in the checkpoint and are written by the resume. A
step completed in the store always has its checkpoint past it (records are flushed only once
checkpointed, or in the node that also returns them), and the gate still reads the store at
the start of every invocation.
"""

from __future__ import annotations

import time
from typing import Any

from warden.graph.state import RunState
from warden.store.ledger import record_bytes

__all__ = ["FLUSH_AFTER_S", "FLUSH_BYTES", "FLUSH_RECORDS", "due", "pending", "tagged"]

FLUSH_RECORDS = 256
"""Pending records that make the next step flush (two or three per step: 85-128 steps). A flush
costs about the same whatever its size (~20 ms of CPU for 255 records: one statement per table),
while every checkpoint carries what is pending (~300 bytes a record): 96 flushed every ~40
no-op steps, ~0.5 ms of CPU a step; 256 halves that for ~40 KB more per checkpoint."""
FLUSH_BYTES = 256 * 1024
"""Pending bytes (outputs, findings) that make the next step flush: every checkpoint carries them."""
FLUSH_AFTER_S = 1.0
"""Age of the oldest pending record that makes the next step flush."""


def pending(state: RunState) -> list[dict[str, Any]]:
    return list(state.get("ledger") or [])


def tagged(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`records` with the time they were made and their size, for :func:`due`."""
    at = time.time()
    for r in records:
        r["_ts"] = at
        r["_bytes"] = record_bytes(r)
    return records


def due(records: list[dict[str, Any]]) -> bool:
    if not records:
        return False
    if len(records) >= FLUSH_RECORDS:
        return True
    if sum(r.get("_bytes", 0) for r in records) >= FLUSH_BYTES:
        return True
    oldest = min(float(r.get("_ts", 0.0)) for r in records)
    return time.time() - oldest >= FLUSH_AFTER_S
