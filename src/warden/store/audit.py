"""The audit trail: every transition, with actor, time and payload, in order, hash-chained per tenant.

Each event of a tenant carries ``chain_no`` (1, 2, 3, ... within the tenant), ``prev_hash`` (the
``hash`` of the tenant's previous event; :data:`GENESIS` for the first) and ``hash``, the SHA-256
of :func:`canonical` (the exact bytes are documented in docs/AUDIT.md). :func:`verify_chain`
recomputes a tenant's chain and names the first edited, deleted, inserted or reordered event.

Appends of one tenant are serialised by the UNIQUE (tenant, chain_no) index: two transactions
that both read the same head cannot both commit (the second fails instead of forking the chain).
On Postgres, where several processes write at once, appends also take the tenant's chain lock
(:func:`chain_readers`), so they wait for each other instead of failing.
Rows written before schema 2 have no chain values; they are unchained legacy events, accepted only
as the tenant's first chained event counts them (its payload's ``chain_started``, written when the
chain begins on a ledger that holds them): any other unchained row is ``inserted``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal

from warden.store import known
from warden.store._util import now, readers_under_lock, rows, to_json

__all__ = [
    "CHAIN_STARTED",
    "CHAIN_TAG",
    "GENESIS",
    "NO_TENANT",
    "ChainProblem",
    "ChainReport",
    "ProblemKind",
    "audit",
    "audit_of_tree",
    "canonical",
    "chain_readers",
    "chain_tenants",
    "event_hash",
    "first_event",
    "iso_at",
    "last_payload",
    "payload_digest",
    "verify_chain",
]

GENESIS = "0" * 64
"""The ``prev_hash`` of a tenant's first event."""

CHAIN_STARTED = "chain_started"
"""Payload key of a tenant's first chained event on a ledger that held unchained (schema 1) rows
of the tenant: ``{"legacy_events": N, "last_legacy_seq": M}``. Absent: the chain has no legacy."""

CHAIN_TAG = "warden-audit/1"
"""First element of the hashed array: names the serialisation so a later one can differ."""

NO_TENANT = "-"
"""The chain of events that belong to no tenant: sign-ins refused before anyone was named (an
unknown user, an identity provider's refusal). Only a policy admin verifies it."""

ProblemKind = Literal["edited", "deleted", "inserted", "reordered"]

_CHAIN_COLUMNS = """seq, event_key, run_id, root_run_id, tenant, "at", actor, event, payload_json,
    chain_no, prev_hash, hash"""


def iso_at(value: datetime) -> str:
    """The hashed (and exported) text of an event's time: naive UTC, microseconds, a 'Z'.

    DuckDB's TIMESTAMP keeps microseconds and no zone, so the stored value reads back as the
    same datetime and this text is the same at write and at verify time.
    """
    return value.isoformat(timespec="microseconds") + "Z"


def payload_digest(payload_json: str) -> str:
    """SHA-256 (hex) of the stored payload JSON text, UTF-8 encoded: what the chain covers, so a
    redacted export can still carry (and an auditor still check) every link."""
    return hashlib.sha256(payload_json.encode("utf-8")).hexdigest()


def canonical(
    *,
    tenant: str,
    chain_no: int,
    prev_hash: str,
    event_key: str | None,
    run_id: str | None,
    root_run_id: str | None,
    at: str,
    actor: str,
    event: str,
    payload_sha256: str,
) -> bytes:
    """The bytes an event's hash is taken over: a JSON array, no spaces, ASCII only.

    ``[CHAIN_TAG, tenant, chain_no, prev_hash, event_key, run_id, root_run_id, at, actor, event,
    payload_sha256]`` with Python's ``json.dumps(..., ensure_ascii=True, separators=(",", ":"))``:
    absent values are ``null``, ``chain_no`` a JSON integer, ``at`` the :func:`iso_at` text.
    """
    fields = [
        CHAIN_TAG,
        tenant,
        chain_no,
        prev_hash,
        event_key,
        run_id,
        root_run_id,
        at,
        actor,
        event,
        payload_sha256,
    ]
    return json.dumps(fields, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def event_hash(row: dict[str, Any]) -> str:
    """The hash a stored row (``at`` a datetime, ``payload_json`` text) should carry."""
    return hashlib.sha256(
        canonical(
            tenant=row["tenant"],
            chain_no=row["chain_no"],
            prev_hash=row["prev_hash"],
            event_key=row["event_key"],
            run_id=row["run_id"],
            root_run_id=row["root_run_id"],
            at=iso_at(row["at"]),
            actor=row["actor"],
            event=row["event"],
            payload_sha256=payload_digest(row["payload_json"]),
        )
    ).hexdigest()


def chain_readers(con: Any, tenant: str) -> list[Any]:
    """The connections whose reads give `tenant`'s chain head for an append in `con`'s
    transaction. DuckDB: `con` (one writer process at a time). Postgres: the tenant's chain is
    locked until the transaction ends, and the head is the newer of this transaction's and the
    last committed one (see ``store.postgres``)."""
    return readers_under_lock(con, f"audit:{tenant}")


def chain_tenants(con: Any) -> list[str]:
    """Every tenant with a chain on the ledger, including :data:`NO_TENANT`'s and tenants a
    later policy no longer names (their events stay, and stay verifiable)."""
    return [
        str(t) for (t,) in con.execute("SELECT DISTINCT tenant FROM audit_events ORDER BY tenant").fetchall()
    ]


def audit(
    con: Any,
    *,
    run_id: str | None,
    root_run_id: str | None,
    tenant: str,
    actor: str,
    event: str,
    payload: dict[str, Any] | None = None,
    key: str | None = None,
) -> None:
    """Append an event to its tenant's chain; `key` makes it idempotent (a re-run node does not
    log it twice: a key already present appends nothing). `run_id`/`root_run_id` are None for
    tenant-level events (a policy applied, the kill switch engaged)."""
    # one statement for both reads: is the key stored already, and the tenant's chain head
    # (each statement costs DuckDB a millisecond or more, and every node audits); none when
    # this process knows both (a held DuckDB file: warden.store.known)
    stored, head = False, None
    knows = known.of(con)
    readers = chain_readers(con, tenant)
    if knows is not None and tenant in knows.heads and (key is None or knows.knows_event(key, run_id)):
        readers = []
        stored = key is not None and key in knows.events
        last_no, last_hash = knows.heads[tenant]
        head = [str(last_no), last_hash] if last_no else None
    for reader in readers:
        found = reader.execute(
            """SELECT EXISTS (SELECT 1 FROM audit_events WHERE event_key = ?),
                      (SELECT ARRAY[CAST(chain_no AS VARCHAR), hash] FROM audit_events
                       WHERE tenant = ? AND chain_no IS NOT NULL ORDER BY chain_no DESC LIMIT 1)""",
            [key, tenant],
        ).fetchone()
        stored = stored or bool(found[0])
        if found[1] and (head is None or int(found[1][0]) > int(head[0])):
            head = found[1]
    if knows is not None:
        knows.heads[tenant] = (int(head[0]), head[1]) if head else (0, GENESIS)
    if key is not None and stored:
        if knows is not None:
            knows.events.add(key)
        return
    chain_no, prev_hash = (int(head[0]) + 1, head[1]) if head else (1, GENESIS)
    payload = dict(payload or {})
    if chain_no == 1:
        # the chain begins: the unchained (pre-chain) rows it finds are recorded, hash-protected,
        # so verification accepts exactly those as legacy (a ledger born chained records none)
        count, last = con.execute(
            "SELECT count(*), max(seq) FROM audit_events WHERE tenant = ? AND chain_no IS NULL", [tenant]
        ).fetchone()
        if count:
            payload[CHAIN_STARTED] = {"legacy_events": int(count), "last_legacy_seq": int(last)}
    row = {
        "event_key": key,
        "run_id": run_id,
        "root_run_id": root_run_id,
        "tenant": tenant,
        "at": now(),
        "actor": actor,
        "event": event,
        "payload_json": to_json(payload),
        "chain_no": chain_no,
        "prev_hash": prev_hash,
    }
    row["hash"] = event_hash(row)
    # no ON CONFLICT: a (tenant, chain_no) clash means another transaction appended first, and
    # silently dropping this event would lose it; the caller's transaction fails instead
    con.execute(
        """INSERT INTO audit_events (event_key, run_id, root_run_id, tenant, "at", actor, event,
               payload_json, chain_no, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        list(row.values()),
    )
    if knows is not None:
        knows.heads[tenant] = (chain_no, str(row["hash"]))
        if key is not None:
            knows.events.add(key)


def audit_of_tree(con: Any, root_run_id: str) -> list[dict[str, Any]]:
    found = rows(con.execute("SELECT * FROM audit_events WHERE root_run_id = ? ORDER BY seq", [root_run_id]))
    for row in found:
        row["payload"] = json.loads(row.pop("payload_json"))
    return found


def last_payload(con: Any, run_id: str, event: str) -> dict[str, Any] | None:
    """The payload of the newest `event` of a run (e.g. why a decision was refused)."""
    found = con.execute(
        "SELECT payload_json FROM audit_events WHERE run_id = ? AND event = ? ORDER BY seq DESC LIMIT 1",
        [run_id, event],
    ).fetchone()
    return json.loads(found[0]) if found else None


@dataclass(frozen=True)
class ChainProblem:
    """The first thing wrong with a chain, at the row where it shows (for `deleted`: the row
    after the gap, and ``chain_no`` the first missing number)."""

    kind: ProblemKind
    chain_no: int | None
    seq: int | None
    event: str | None
    run_id: str | None
    root_run_id: str | None
    detail: str


@dataclass(frozen=True)
class ChainReport:
    """What :func:`verify_chain` found for one tenant."""

    tenant: str
    checked: int
    """Chained events recomputed (legacy rows not included)."""
    legacy: int
    """Unchained legacy events (written before schema 2), in front of the chain."""
    head_no: int
    """``chain_no`` of the last event (0 for an empty chain)."""
    head_hash: str
    """``hash`` of the last event (:data:`GENESIS` for an empty chain): keep it elsewhere."""
    problem: ChainProblem | None = None
    root_run_id: str | None = None
    """The run tree asked about, if any."""
    run_events: int = 0
    """Events of that run tree among those checked."""
    touches_run: bool | None = None
    """Whether the problem is an event of that run tree (None: no problem, no tree asked
    about, or a deleted event, whose run cannot be known)."""

    @property
    def ok(self) -> bool:
        return self.problem is None

    @property
    def head(self) -> str:
        """The anchor to keep outside the machine: ``CHAIN_NO:HASH``."""
        return f"{self.head_no}:{self.head_hash}"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok, "head": self.head}


def _chain_fields(row: dict[str, Any]) -> tuple[Any, Any, Any]:
    return row["chain_no"], row["prev_hash"], row["hash"]


def _forks(chained: list[dict[str, Any]]) -> set[int]:
    """Seqs of rows that share a chain_no with a genuine row and lose: the genuine one is the row
    the next chain_no links to; failing that, the one whose own hash still matches; then the
    earliest (a fork at the head has no successor to tell)."""
    by_no: dict[int, list[dict[str, Any]]] = {}
    for r in chained:
        by_no.setdefault(r["chain_no"], []).append(r)
    losers: set[int] = set()
    for no, group in by_no.items():
        if len(group) < 2:
            continue
        linked = {s["prev_hash"] for s in by_no.get(no + 1, ())}
        ranked = sorted(group, key=lambda r: (r["hash"] not in linked, not r["_intact"], r["seq"]))
        losers.update(r["seq"] for r in ranked[1:])
    return losers


def verify_chain(
    con: Any, tenant: str, *, root_run_id: str | None = None, anchor: str | None = None
) -> ChainReport:
    """Recompute `tenant`'s chain in ``seq`` order and name the first problem.

    With `root_run_id` the whole tenant chain is still verified (a run's events are links in
    it); the report says how many events are the tree's and whether the problem is one of them.
    `anchor` is a head recorded earlier (``CHAIN_NO:HASH`` as :attr:`ChainReport.head` prints
    it, or a bare hash): it must still be in the chain, which catches a deleted or rewritten
    tail that the chain alone cannot show.

    Decision procedure. First every chained row's hash is recomputed (``intact``), and rows that
    share a chain_no are resolved (:func:`_forks`). Then the rows are walked in ``seq`` order
    with the expected next link (``n`` = previous accepted chain_no + 1, ``prev`` = its hash;
    1 and :data:`GENESIS` at the start):

    0. A row with no chain values before the first chained row is an unchained legacy event
       (counted, not a problem). One after it is ``inserted`` (legacy rows all predate the
       chain); a row with some but not all chain values is ``edited``.
    1. A row that lost a fork (a duplicate chain_no) is ``inserted``.
    2. chain_no == n:
       a. prev_hash == prev: ``intact`` -> accepted; else ``edited`` (its content no longer
          matches its hash).
       b. prev_hash != prev, row not intact: ``edited`` if a later row links to it (the chain
          ran through it and its link or content was changed), else ``inserted`` (it neither
          follows the row before it nor is followed: never part of the chain).
       c. prev_hash != prev, row intact, prev_hash is another present row's hash: ``inserted``
          (a row branched off elsewhere, with a fitting number).
       d. otherwise the previous row was rewritten with a fresh hash: ``edited`` at the
          previous row (its hash is no longer the one its successor recorded); at chain_no 1
          (no previous row) the row itself had its prev_hash rewritten: ``edited``. (At the
          head, a previous row rewritten this way and a self-consistent forged row with a made-up
          prev_hash look the same; the procedure says ``edited`` at the previous row.)
    3. chain_no > n (a jump):
       a. a row numbered n exists (later in seq): if this row is intact and its prev_hash is
          the hash of the row numbered chain_no - 1, it is a genuine link in the wrong place:
          ``reordered``; otherwise it is not part of the chain: ``inserted``.
       b. no row is numbered n: if prev_hash is the hash of no present row and the row is
          intact or linked to by a later row, the rows in between are gone: ``deleted`` (chain_no
          n is the first missing one). Otherwise (it links to a present row but skips numbers, or
          it is corrupt and nothing links to it) it was never part of the chain: ``inserted``.
    4. chain_no < n: a second row at a number already accepted: ``inserted``.

    When the walk ends with no problem and an `anchor` is given: the anchor hash present (at its
    chain_no, if given) passes; a chain that ends before the anchor's chain_no (or, for a bare
    hash, lacks it) is ``deleted`` from head + 1; a row at the anchor's chain_no with another
    hash is ``edited`` (it, or an event before it, was rewritten along with everything after).

    What no procedure can see without an anchor: the last events deleted, or the chain
    rewritten from some point to its head; nor, without a signature, valid-looking events
    appended at the head by someone with write access to the store.
    """
    found = rows(
        con.execute(f"SELECT {_CHAIN_COLUMNS} FROM audit_events WHERE tenant = ? ORDER BY seq", [tenant])
    )
    chained: list[dict[str, Any]] = []
    for r in found:
        if all(v is not None for v in _chain_fields(r)):
            r["_intact"] = event_hash(r) == r["hash"]
            chained.append(r)
    losers = _forks(chained)
    hashes = {r["hash"]: r for r in chained}
    by_no: dict[int, dict[str, Any]] = {}
    for r in chained:
        if r["seq"] not in losers:
            by_no.setdefault(r["chain_no"], r)
    linked_to = {r["prev_hash"] for r in chained}

    legacy = 0
    allowed, last_legacy = _legacy_allowance(by_no.get(1))
    if not chained:  # no chain began: nothing counts them (see docs/AUDIT.md, "Legacy events")
        allowed, last_legacy = len(found), max((r["seq"] for r in found), default=0)
    accepted: list[dict[str, Any]] = []
    problem: ChainProblem | None = None

    def at(
        kind: ProblemKind, r: dict[str, Any] | None, detail: str, chain_no: int | None = None
    ) -> ChainProblem:
        return ChainProblem(
            kind=kind,
            chain_no=chain_no if chain_no is not None else (r["chain_no"] if r else None),
            seq=r["seq"] if r else None,
            event=r["event"] if r else None,
            run_id=r["run_id"] if r else None,
            root_run_id=r["root_run_id"] if r else None,
            detail=detail,
        )

    for r in found:
        n, prev = (accepted[-1]["chain_no"] + 1, accepted[-1]["hash"]) if accepted else (1, GENESIS)
        values = _chain_fields(r)
        if all(v is None for v in values):
            if chained and r["seq"] > chained[0]["seq"]:
                problem = at("inserted", r, "an unchained row after the chain began")
                break
            if legacy >= allowed or r["seq"] > last_legacy:
                problem = at(
                    "inserted",
                    r,
                    f"an unchained row the chain's start does not count as legacy (it recorded {allowed})",
                )
                break
            legacy += 1
            continue
        if any(v is None for v in values):
            problem = at("edited", r, "some of its chain values were removed")
            break
        no = r["chain_no"]
        if r["seq"] in losers:
            problem = at("inserted", r, f"a second row numbered {no}; the chain runs through another")
            break
        if no == n:
            if r["prev_hash"] == prev:
                if r["_intact"]:
                    accepted.append(r)
                    continue
                problem = at("edited", r, "its content no longer matches its hash")
            elif not r["_intact"]:
                if r["hash"] in linked_to:
                    problem = at("edited", r, "its link or content no longer matches its hash")
                else:
                    problem = at("inserted", r, "it neither links to the event before it nor is linked to")
            elif r["prev_hash"] in hashes:
                problem = at("inserted", r, "it links to a row other than the one before it")
            elif accepted:
                problem = at(
                    "edited",
                    accepted[-1],
                    f"its hash is no longer the one the next event (seq {r['seq']}) recorded: "
                    "it was rewritten",
                )
            else:
                problem = at("edited", r, "the first event's prev_hash is not the genesis hash")
            break
        if no > n:
            if n in by_no:
                before = by_no.get(no - 1)
                if r["_intact"] and before is not None and r["prev_hash"] == before["hash"]:
                    problem = at("reordered", r, f"chain_no {n} comes after it in seq order")
                else:
                    problem = at("inserted", r, f"chain_no {no} does not fit here and nothing links it in")
            elif r["prev_hash"] not in hashes and (r["_intact"] or r["hash"] in linked_to):
                missing = f"chain_no {n}" if no == n + 1 else f"chain_no {n} to {no - 1}"
                problem = at(
                    "deleted",
                    r,
                    f"{missing} missing: the next event (seq {r['seq']}, chain_no {no}) links to a row "
                    "that is gone",
                    chain_no=n,
                )
            else:
                problem = at("inserted", r, f"chain_no {no} skips {n}, and no chain leads to it")
            break
        problem = at("inserted", r, f"a second row numbered {no}")
        break

    if problem is None and legacy < allowed:
        problem = at(
            "deleted", None, f"the chain's start recorded {allowed} legacy events; {legacy} are left"
        )
    if problem is None:
        problem = _foreign(con, tenant, root_run_id, at)
    if problem is None and anchor is not None:
        problem = _check_anchor(anchor, accepted, hashes, at)
    # the stored head: the last chained row (after a problem, not necessarily a sound link)
    head = next((r for r in reversed(chained) if r["seq"] not in losers), None)
    in_tree = [r for r in chained if root_run_id is not None and r["root_run_id"] == root_run_id]
    touches = None
    if problem is not None and root_run_id is not None and problem.kind != "deleted":
        touches = problem.root_run_id == root_run_id
    return ChainReport(
        tenant=tenant,
        checked=len(chained),
        legacy=legacy,
        head_no=head["chain_no"] if head else 0,
        head_hash=head["hash"] if head else GENESIS,
        problem=problem,
        root_run_id=root_run_id,
        run_events=len(in_tree),
        touches_run=touches,
    )


def _legacy_allowance(first: dict[str, Any] | None) -> tuple[int, int]:
    """How many unchained rows, up to which seq, the chain's first event (hash-protected) counts
    as legacy: ``(0, 0)`` unless it is intact and records them."""
    if first is None or not first.get("_intact"):
        return 0, 0
    try:
        started = json.loads(first["payload_json"]).get(CHAIN_STARTED)
        return int(started["legacy_events"]), int(started["last_legacy_seq"])
    except (ValueError, TypeError, KeyError, AttributeError):
        return 0, 0


def _foreign(
    con: Any, tenant: str, root_run_id: str | None, at: Callable[..., ChainProblem]
) -> ChainProblem | None:
    """What a tenant's chain cannot show by itself: an event naming another tenant's run (a chain
    of its own, spliced in under a made-up tenant); with `root_run_id`, an event of the tree on
    another tenant's chain, or a root whose ``run_requested`` event is gone (only a request
    records one: a child's start is its parent's ``child_started``, in the parent's trail)."""
    cols = "e.seq, e.chain_no, e.event, e.run_id, e.root_run_id, e.tenant"
    found = rows(
        con.execute(
            f"""SELECT {cols}, r.tenant AS run_tenant FROM audit_events e JOIN runs r USING (run_id)
                WHERE e.tenant = ? AND r.tenant <> e.tenant ORDER BY e.seq LIMIT 1""",
            [tenant],
        )
    )
    if found:
        r = found[0]
        return at("inserted", r, f"it names run {r['run_id']!r} of tenant {r['run_tenant']!r}")
    if root_run_id is None:
        return None
    found = rows(
        con.execute(
            f"""SELECT {cols} FROM audit_events e
                WHERE e.tenant <> ? AND (e.root_run_id = ?
                      OR e.run_id IN (SELECT run_id FROM runs WHERE root_run_id = ?))
                ORDER BY e.seq LIMIT 1""",
            [tenant, root_run_id, root_run_id],
        )
    )
    if found:
        r = found[0]
        return at(
            "inserted", r, f"an event of the tree on the chain of tenant {r['tenant']!r}, not {tenant!r}"
        )
    missing = con.execute(
        """SELECT r.run_id FROM runs r WHERE r.run_id = ? AND NOT EXISTS (
               SELECT 1 FROM audit_events e
               WHERE e.run_id = r.run_id AND e.tenant = r.tenant AND e.event = 'run_requested')""",
        [root_run_id],
    ).fetchone()
    if missing:
        return at("deleted", None, f"run {missing[0]!r} has no run_requested event: it was deleted")
    return None


def _check_anchor(
    anchor: str,
    accepted: list[dict[str, Any]],
    hashes: dict[str, dict[str, Any]],
    at: Callable[..., ChainProblem],
) -> ChainProblem | None:
    """The anchored head must still be a link of the (otherwise intact) chain."""
    no_text, _, want = anchor.strip().rpartition(":")
    want = want.lower()
    anchored_no = int(no_text) if no_text.isdigit() else None
    head_no = accepted[-1]["chain_no"] if accepted else 0
    row = hashes.get(want)
    if row is not None and (anchored_no is None or row["chain_no"] == anchored_no):
        return None
    if anchored_no is not None and anchored_no <= head_no:
        now_there = accepted[anchored_no - 1]
        return at(
            "edited",
            now_there,
            f"the anchored head {anchor} is gone: this event, or one before it, was rewritten "
            "along with every event after it",
        )
    return at(
        "deleted",
        None,
        f"the anchored head {anchor} is not in the chain, which ends at chain_no {head_no}: "
        "the events after it were deleted (or the chain was rewritten)",
        chain_no=head_no + 1,
    )


def first_event(con: Any, run_id: str, event: str) -> dict[str, Any] | None:
    """The run's first `event` (e.g. ``run_requested``) with its payload decoded, or None."""
    found = rows(
        con.execute(
            "SELECT * FROM audit_events WHERE run_id = ? AND event = ? ORDER BY seq LIMIT 1", [run_id, event]
        )
    )
    if not found:
        return None
    row = found[0]
    row["payload"] = json.loads(row.pop("payload_json"))
    return row
