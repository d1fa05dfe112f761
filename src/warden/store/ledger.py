"""Ledger records a graph node keeps in its checkpointed state, written to the store in batches.

A step's ledger rows (its ``steps`` row, its findings, its ``step_completed`` event) are built
here as plain JSON-mode dicts, ride in the graph state (so LangGraph checkpoints them atomically
with the cursor that says the step is done), and :func:`flush` writes any number of them in one
transaction with one statement per table. Every record is keyed (a step by run and step id, a
finding by run and finding id, an event by its ``event_key``), so writing a record twice (a
flush repeated after a crash, before its checkpoint was saved) changes nothing.

Why batch: DuckDB plans and checks each statement against its indexes, 1-6 ms of CPU apiece,
far more than LangGraph's own superstep; one flush of N steps costs about what one step's
writes cost when each was written as it happened.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from warden.schemas.finding import Finding
from warden.store._util import insert_rows, now, scrub, to_json
from warden.store.audit import GENESIS, canonical, chain_readers, iso_at, payload_digest
from warden.store.findings import FINDING_COLUMNS, FINDINGS_UPSERT, finding_rows, with_fingerprints
from warden.store.runs import record_drafted_runbook

__all__ = [
    "audit_record",
    "drafted_record",
    "findings_record",
    "flush",
    "record_bytes",
    "stamp",
    "step_record",
]

_STEP_COLUMNS = {
    "run_id": "VARCHAR",
    "step_id": "VARCHAR",
    "kind": "VARCHAR",
    "analyser": "VARCHAR",
    "system_id": "VARCHAR",
    "status": "VARCHAR",
    "attempts": "INTEGER",
    "started_at": "TIMESTAMP",
    "finished_at": "TIMESTAMP",
    "duration_s": "DOUBLE",
    "output_schema": "VARCHAR",
    "output_json": "VARCHAR",
    "error": "VARCHAR",
    "child_run_id": "VARCHAR",
}
_STEP_UPSERT = """ON CONFLICT (run_id, step_id) DO UPDATE SET kind = excluded.kind,
    analyser = excluded.analyser, system_id = excluded.system_id, status = excluded.status,
    attempts = excluded.attempts, started_at = excluded.started_at, finished_at = excluded.finished_at,
    duration_s = excluded.duration_s, output_schema = excluded.output_schema,
    output_json = excluded.output_json, error = excluded.error,
    child_run_id = coalesce(excluded.child_run_id, steps.child_run_id)"""
_AUDIT_COLUMNS = {
    "event_key": "VARCHAR",
    "run_id": "VARCHAR",
    "root_run_id": "VARCHAR",
    "tenant": "VARCHAR",
    '"at"': "TIMESTAMP",
    "actor": "VARCHAR",
    "event": "VARCHAR",
    "payload_json": "VARCHAR",
    "chain_no": "BIGINT",
    "prev_hash": "VARCHAR",
    "hash": "VARCHAR",
}
_TIMES = ("started_at", "finished_at")
_CREATED = list(FINDING_COLUMNS).index("created_at")


def stamp() -> str:
    """Now, as the text a record keeps (naive UTC, microseconds)."""
    return now().isoformat(timespec="microseconds")


def step_record(
    *,
    run_id: str,
    step_id: str,
    kind: str,
    analyser: str | None,
    system_id: str | None,
    status: str,
    attempts: int,
    started_at: str,
    finished_at: str | None,
    duration_s: float | None,
    output: Any = None,
    output_schema: str | None = None,
    error: str | None = None,
    child_run_id: str | None = None,
) -> dict[str, Any]:
    """A step's whole row: its state after this attempt (``attempts`` counts every attempt,
    earlier processes' included). Output and error are masked as the store's writers mask them."""
    return {
        "t": "step",
        "run_id": run_id,
        "step_id": step_id,
        "kind": kind,
        "analyser": analyser,
        "system_id": system_id,
        "status": status,
        "attempts": attempts,
        "started_at": started_at,
        "finished_at": finished_at,
        "duration_s": duration_s,
        "output_schema": output_schema,
        "output_json": to_json(output) if output is not None else None,
        "error": scrub(error)[:4000] if error is not None else None,
        "child_run_id": child_run_id,
    }


def findings_record(
    found: list[Finding], *, run_id: str, root_run_id: str, step_id: str, tenant: str
) -> dict[str, Any]:
    rows = finding_rows(
        found, run_id=run_id, root_run_id=root_run_id, step_id=step_id, tenant=tenant, t=now()
    )
    for row in rows:  # plain data in the checkpoint: the time as text
        row[_CREATED] = row[_CREATED].isoformat(timespec="microseconds")
    return {"t": "findings", "rows": rows}


def audit_record(
    *,
    run_id: str | None,
    root_run_id: str | None,
    tenant: str,
    actor: str,
    event: str,
    payload: dict[str, Any] | None,
    key: str,
) -> dict[str, Any]:
    """An event, stamped now; its place in the tenant's chain is taken when it is flushed."""
    return {
        "t": "audit",
        "event_key": key,
        "run_id": run_id,
        "root_run_id": root_run_id,
        "tenant": tenant,
        "at": stamp(),
        "actor": actor,
        "event": event,
        "payload_json": to_json(payload or {}),
    }


def drafted_record(*, run_id: str, runbook: str, version: int, sha256: str | None) -> dict[str, Any]:
    """The runbook a run will execute, as drafted (``runs.record_drafted_runbook``)."""
    return {"t": "drafted", "run_id": run_id, "runbook": runbook, "version": version, "sha256": sha256}


def record_bytes(record: dict[str, Any]) -> int:
    """About how much a record adds to every checkpoint until it is flushed."""
    if record["t"] == "findings":
        return sum(len(str(v)) for row in record["rows"] for v in row)
    return sum(len(v) for v in record.values() if isinstance(v, str))


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None


def flush(con: Any, records: list[dict[str, Any]]) -> None:
    """Write `records` (in order) inside the caller's transaction: one statement per table, plus
    two reads for the audit chain. Idempotent: a record already written changes nothing."""
    if not records:
        return
    steps: dict[tuple[str, str], dict[str, Any]] = {}
    found: dict[tuple[str, str], list[Any]] = {}
    events: dict[str, dict[str, Any]] = {}
    for r in records:
        if r["t"] == "step":
            steps[(r["run_id"], r["step_id"])] = r  # the latest state of a step wins
        elif r["t"] == "findings":
            for row in r["rows"]:
                found[(row[0], row[1])] = row
        elif r["t"] == "audit":
            events.setdefault(r["event_key"], r)
        elif r["t"] == "drafted":
            record_drafted_runbook(
                con, r["run_id"], runbook=r["runbook"], version=r["version"], sha256=r["sha256"]
            )
        else:
            raise ValueError(f"unknown ledger record {r['t']!r}")
    if steps:
        insert_rows(
            con,
            "steps",
            _STEP_COLUMNS,
            [[_dt(r[c]) if c in _TIMES else r[c] for c in _STEP_COLUMNS] for r in steps.values()],
            _STEP_UPSERT,
        )
    if found:
        rows = [[_dt(v) if i == _CREATED else v for i, v in enumerate(row)] for row in found.values()]
        insert_rows(con, "findings", FINDING_COLUMNS, with_fingerprints(con, rows), FINDINGS_UPSERT)
    if events:
        _append_events(con, list(events.values()))


def _append_events(con: Any, events: list[dict[str, Any]]) -> None:
    """Chain the events not yet stored onto their tenants' chains, in the order given."""
    keys = [e["event_key"] for e in events]
    readers = {t: chain_readers(con, t) for t in dict.fromkeys(e["tenant"] for e in events)}
    stored = {
        row[0]
        for reader in {id(r): r for rs in readers.values() for r in rs}.values()
        for row in reader.execute(
            "SELECT event_key FROM audit_events WHERE event_key IN (SELECT unnest(?::VARCHAR[]))",
            [keys],
        ).fetchall()
    }
    heads: dict[str, tuple[int, str]] = {}
    out: list[list[Any]] = []
    for e in events:
        if e["event_key"] in stored:
            continue
        tenant = e["tenant"]
        if tenant not in heads:
            heads[tenant] = (0, GENESIS)
            for reader in readers[tenant]:
                head = reader.execute(
                    """SELECT chain_no, hash FROM audit_events
                       WHERE tenant = ? AND chain_no IS NOT NULL ORDER BY chain_no DESC LIMIT 1""",
                    [tenant],
                ).fetchone()
                if head and head[0] > heads[tenant][0]:
                    heads[tenant] = (head[0], head[1])
        last_no, prev_hash = heads[tenant]
        at = datetime.fromisoformat(e["at"])
        digest = hashlib.sha256(
            canonical(
                tenant=tenant,
                chain_no=last_no + 1,
                prev_hash=prev_hash,
                event_key=e["event_key"],
                run_id=e["run_id"],
                root_run_id=e["root_run_id"],
                at=iso_at(at),
                actor=e["actor"],
                event=e["event"],
                payload_sha256=payload_digest(e["payload_json"]),
            )
        ).hexdigest()
        heads[tenant] = (last_no + 1, digest)
        out.append(
            [
                e["event_key"],
                e["run_id"],
                e["root_run_id"],
                tenant,
                at,
                e["actor"],
                e["event"],
                e["payload_json"],
                last_no + 1,
                prev_hash,
                digest,
            ]
        )
    # rows go in in list order, so seq follows chain_no (verify_chain walks seq order)
    insert_rows(con, "audit_events", _AUDIT_COLUMNS, out)
