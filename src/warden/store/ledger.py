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
from typing import Any, NamedTuple

from warden.schemas.finding import Finding
from warden.store import known
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


def flush(con: Any, records: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """Write `records` (in order) inside the caller's transaction: one read (which keys are
    stored already, and the audit chains' heads), then one statement per table. Idempotent: a
    record already written changes nothing. Returns the (run id, step id) keys of the step
    records whose rows were stored before (the rest are new rows).

    Rows whose keys are not stored yet (nearly all: a step's records are written once) go in
    with a plain INSERT; only the others take the ``ON CONFLICT DO UPDATE`` upsert, which costs
    DuckDB several milliseconds more per statement. Nothing else writes a run's steps, findings
    or events while its driver holds the transaction (one writer per file; the driver lease)."""
    if not records:
        return set()
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
    if not (steps or found or events):
        return set()
    tenants = list(dict.fromkeys(e["tenant"] for e in events.values()))
    readers = {t: chain_readers(con, t) for t in tenants}  # Postgres: the tenants' chain locks
    knows = known.of(con)  # a held DuckDB file: what this process wrote since it last probed
    stored = _read_stored(con, knows, steps, found, list(events.values()), tenants)
    _committed_since(con, readers, list(events), stored)
    if steps:
        step_rows = {k: [_dt(r[c]) if c in _TIMES else r[c] for c in _STEP_COLUMNS] for k, r in steps.items()}
        _insert_or_upsert(con, "steps", _STEP_COLUMNS, step_rows, stored.steps, _STEP_UPSERT)
    if found:
        finding_rows = [[_dt(v) if i == _CREATED else v for i, v in enumerate(row)] for row in found.values()]
        with_fingerprints(con, finding_rows)
        by_key = dict(zip(found, finding_rows, strict=True))
        _insert_or_upsert(con, "findings", FINDING_COLUMNS, by_key, stored.findings, FINDINGS_UPSERT)
    heads = _append_events(con, list(events.values()), stored) if events else {}
    if knows is not None:
        knows.heads.update(heads)
        knows.steps.update(steps)
        knows.findings.update(found)
        knows.events.update(events)
    return stored.steps


def _read_stored(
    con: Any,
    knows: known.Known | None,
    steps: dict[tuple[str, str], Any],
    found: dict[tuple[str, str], Any],
    events: list[dict[str, Any]],
    tenants: list[str],
) -> _Stored:
    """:func:`_probe` for what `knows` does not answer: keys of runs it does not know whole,
    heads of tenants it has none of. All of it known: no statement (most flushes of a run this
    process created, on a held DuckDB file)."""
    if knows is None:
        return _probe(con, steps, found, events, tenants)
    ask_steps = {k: v for k, v in steps.items() if not knows.knows_run(k[0])}
    ask_found = {k: v for k, v in found.items() if not knows.knows_run(k[0])}
    ask_events = [e for e in events if not knows.knows_event(e["event_key"], e["run_id"])]
    ask_heads = [t for t in tenants if t not in knows.heads]
    if ask_steps or ask_found or ask_events or ask_heads:
        stored = _probe(con, ask_steps, ask_found, ask_events, ask_heads)
    else:
        stored = _Stored(set(), set(), set(), {})
    stored.steps.update(k for k in steps if k not in ask_steps and k in knows.steps)
    stored.findings.update(k for k in found if k not in ask_found and k in knows.findings)
    stored.events.update(e["event_key"] for e in events if e["event_key"] in knows.events)
    for tenant in tenants:
        stored.heads.setdefault(tenant, knows.heads.get(tenant, (0, GENESIS)))
    knows.heads.update(stored.heads)
    return stored


class _Stored(NamedTuple):
    """What one :func:`_probe` read found in the store."""

    steps: set[tuple[str, str]]
    findings: set[tuple[str, str]]
    events: set[str]
    heads: dict[str, tuple[int, str]]
    """Each tenant's chain head (chain_no, hash), :data:`GENESIS` at 0 for an empty chain."""


def _probe(
    con: Any,
    steps: dict[tuple[str, str], Any],
    found: dict[tuple[str, str], Any],
    events: list[dict[str, Any]],
    tenants: list[str],
) -> _Stored:
    """One statement: which of these step, finding and event keys are stored already, and the
    chain head of each of `tenants` (each statement costs DuckDB a millisecond or more, and
    nearly every node transaction flushes)."""
    parts: list[str] = []
    params: list[Any] = []
    keyed = (("s", "steps", "step_id", steps), ("f", "findings", "finding_id", found))
    for kind, table, second, keys in keyed:
        if keys:
            runs_in, run_ids = _in("run_id", sorted({k[0] for k in keys}))
            ids_in, ids = _in(second, sorted({k[1] for k in keys}))
            parts.append(
                f"SELECT '{kind}' AS kind, run_id AS a, {second} AS b, NULL AS c FROM {table} "
                f"WHERE {runs_in} AND {ids_in}"
            )
            params += [*run_ids, *ids]
    if events:
        keys_in, event_keys = _in("event_key", [e["event_key"] for e in events])
        parts.append(f"SELECT 'e', event_key, NULL, NULL FROM audit_events WHERE {keys_in}")
        params += event_keys
    for tenant in tenants:
        parts.append(
            """SELECT 'h', tenant, CAST(chain_no AS VARCHAR), hash FROM (SELECT tenant, chain_no, hash
               FROM audit_events WHERE tenant = ? AND chain_no IS NOT NULL
               ORDER BY chain_no DESC LIMIT 1) AS head"""
        )
        params.append(tenant)
    out = _Stored(set(), set(), set(), {t: (0, GENESIS) for t in tenants})
    for kind, a, b, c in con.execute(" UNION ALL ".join(parts), params).fetchall():
        if kind == "s" and (a, b) in steps:
            out.steps.add((a, b))
        elif kind == "f" and (a, b) in found:
            out.findings.add((a, b))
        elif kind == "e":
            out.events.add(a)
        elif kind == "h":
            out.heads[a] = (int(b), c)
    return out


def _committed_since(con: Any, readers: dict[str, list[Any]], keys: list[str], stored: _Stored) -> None:
    """Postgres: what other processes committed after this transaction's snapshot (read on the
    side connections :func:`chain_readers` hands back once the tenants' chains are locked):
    event keys stored and newer chain heads. DuckDB has one writer: `con` saw everything."""
    others = {id(r): r for rs in readers.values() for r in rs if r is not con}
    if not others:
        return
    keys_in, params = _in("event_key", keys)
    for reader in others.values():
        cur = reader.execute(f"SELECT event_key FROM audit_events WHERE {keys_in}", params)
        stored.events.update(row[0] for row in cur.fetchall())
    for tenant, rs in readers.items():
        for reader in rs:
            if reader is con:
                continue
            head = reader.execute(
                """SELECT chain_no, hash FROM audit_events
                   WHERE tenant = ? AND chain_no IS NOT NULL ORDER BY chain_no DESC LIMIT 1""",
                [tenant],
            ).fetchone()
            if head and int(head[0]) > stored.heads[tenant][0]:
                stored.heads[tenant] = (int(head[0]), head[1])


_IN_LIST_MAX = 64
"""Up to this many values a key filter is a list of parameters (``col IN (?, ?)``, which DuckDB
plans faster than a join with ``unnest``: ~0.75 against ~1.1-1.6 ms); past it, one list
parameter (a flush of 255 records, a large findings batch)."""


def _in(column: str, values: list[str]) -> tuple[str, list[Any]]:
    """``column IN (...)`` over `values`, and its parameters."""
    if len(values) <= _IN_LIST_MAX:
        return f"{column} IN ({', '.join('?' for _ in values)})", list(values)
    return f"{column} IN (SELECT unnest(?::VARCHAR[]))", [values]


def _insert_or_upsert(
    con: Any,
    table: str,
    columns: dict[str, str],
    rows: dict[tuple[str, str], list[Any]],
    stored: set[tuple[str, str]],
    upsert: str,
) -> None:
    insert_rows(con, table, columns, [row for key, row in rows.items() if key not in stored])
    insert_rows(con, table, columns, [row for key, row in rows.items() if key in stored], upsert)


def _append_events(con: Any, events: list[dict[str, Any]], stored: _Stored) -> dict[str, tuple[int, str]]:
    """Chain the events not yet stored onto their tenants' chains, in the order given; returns
    the tenants' heads after them."""
    heads = dict(stored.heads)
    out: list[list[Any]] = []
    for e in events:
        if e["event_key"] in stored.events:
            continue
        tenant = e["tenant"]
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
    return heads
