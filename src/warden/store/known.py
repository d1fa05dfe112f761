"""What this process knows of a held DuckDB file's ledger without reading it again.

Every flush of ledger records used to open with a probe (which keys are stored already, and
each tenant's audit chain head): ~1.5-3 ms of DuckDB's CPU, five times per analysis. On a held
DuckDB file nothing but this process writes (DuckDB's file lock), and every write this process
commits bumps the file's generation (``Store`` keeps it, per file, whichever ``Store`` object
commits), so what the last flush wrote is what the next one would read, as long as the
generation moved only by that flush's own commit.

:class:`Known` is that knowledge, true of the file at generation :attr:`Known.at`:

- ``heads``: the exact chain head of some tenants;
- ``fresh``: runs created by this process with a plain INSERT (``create_run(new=True)``: no row
  of theirs existed before, their ids are new), for which every ``steps``, ``findings`` and
  ``run_documents`` and ``approvals`` row of the run and every event whose key starts with
  ``"<run id>:"`` is in ``steps``, ``findings``, ``documents``, ``approvals`` and ``events``
  (only this process writes them, and each of its writers notes what it wrote: :func:`of` in
  ``ledger.flush``, ``audit.audit``, ``steps.start_step``, ``findings.upsert_findings``,
  ``documents.store_document``, ``link_documents`` and ``approvals.record_approval``; they note
  it whether the run is fresh yet or not, so the order of a transaction's writes does not
  matter).

A unit of work (:func:`begin`, from ``Store.connect`` on a held DuckDB file) starts from a copy
of the file's knowledge if it is true at the generation the transaction began at, else from
nothing; its writers add what they wrote; its commit (:func:`end`) makes the copy the file's
knowledge only if no other commit came between its begin and its own (the generation moved by
exactly one). Any other commit (a write that noted nothing, another store object's, a rolled
back or raced unit), any open or close (another process may have written), and the knowledge is
not used: the next flush probes. A rollback also drops the file's knowledge. Postgres never has
any (other hosts write at any time): it keeps its probe.

One process may write one file through several ``Store`` objects: every ``Service`` builds its
own (two in-process servers, a server and a CLI command run in-process, a worker and a test's
Service), and DuckDB gives them one database. DuckDB starts a transaction's snapshot at its
first statement that touches a table, not at its ``BEGIN``, so a commit of another Store
between the two is in the snapshot but not in the knowledge of the generation the unit began
at: a stale head reused a ``chain_no``, a stale key set INSERTed a step another Store had
stored (a duplicate key, which nothing retries). Two guards (``tests/store/test_known.py``,
"more than one writing Store"):

- every write unit of work on the file, of any of the process's Stores, threaded or not, takes
  the file's writer lock (``connection._WRITERS``) from before its ``BEGIN`` to after its
  :func:`end`: no other thread's commit lands inside it (as DuckDB's file lock keeps other
  processes out);
- a commit on the file (:func:`end` with its key; held or not) takes the knowledge from every
  other unit of work open on it, i.e. one nested in it on the same thread (the lock is
  re-entrant): that unit probes from then on, and its commit keeps nothing.

What is still assumed, as ``Store.generation`` assumes it: nothing in this process writes the
file through a connection that is not a ``Store`` unit of work (a bare ``duckdb.connect`` on the
same path, which shares the ``Store``'s database).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Known", "begin", "end", "forget", "keep", "of"]

_MAX_FRESH = 64
"""Fresh runs kept; past this (or :data:`_MAX_KEYS`) the knowledge keeps only the heads."""
_MAX_KEYS = 5_000
"""Stored keys kept (steps, findings, events together; each unit of work copies them)."""


@dataclass
class Known:
    """Knowledge of one file's ledger tables (see the module's docstring)."""

    at: int = -1
    heads: dict[str, tuple[int, str]] = field(default_factory=dict)
    fresh: dict[str, None] = field(default_factory=dict)
    """(Ordered: the oldest first, dropped first.)"""
    steps: set[tuple[str, str]] = field(default_factory=set)
    findings: set[tuple[str, str]] = field(default_factory=set)
    events: set[str] = field(default_factory=set)
    documents: dict[str, set[str]] = field(default_factory=dict)
    """The ``run_documents`` of runs (of fresh runs: all of them, none if absent)."""
    approvals: set[tuple[str, str]] = field(default_factory=set)
    """(run id, approval id) of ``approvals`` rows (of fresh runs: all of them)."""

    def copy(self) -> Known:
        return Known(
            self.at,
            dict(self.heads),
            dict(self.fresh),
            set(self.steps),
            set(self.findings),
            set(self.events),
            {run: set(ids) for run, ids in self.documents.items()},
            set(self.approvals),
        )

    def knows_run(self, run_id: str | None) -> bool:
        """Every step and finding row of `run_id` is in :attr:`steps` and :attr:`findings`."""
        return run_id is not None and run_id in self.fresh

    def knows_event(self, key: str, run_id: str | None) -> bool:
        """Whether `key` is stored is known: its run is fresh and the key starts with its id (no
        event with such a key was written before the run was created)."""
        return run_id is not None and run_id in self.fresh and key.startswith(run_id + ":")


@dataclass
class _Unit:
    key: str
    begun: int | None
    """The file's generation when the transaction began; None if a commit raced the begin."""
    known: Known | None = None


_LOCK = threading.Lock()
_FILES: dict[str, Known] = {}
"""By file (resolved path): the knowledge committed last, true at its generation ``at``."""
_UNITS: dict[int, _Unit] = {}
"""By id of the unit of work's connection: held DuckDB write units in progress."""


def begin(con: Any, key: str, generation: int | None) -> None:
    """A write unit of work on the held DuckDB file `key` began on `con` at `generation`."""
    _UNITS[id(con)] = _Unit(key, generation)


def of(con: Any) -> Known | None:
    """The knowledge of `con`'s transaction, for its writers to read and add to; None when there
    is none to keep (Postgres, a file not held, a begin a commit raced)."""
    unit = _UNITS.get(id(con))
    if unit is None or unit.begun is None:
        return None
    if unit.known is None:
        with _LOCK:
            last = _FILES.get(unit.key)
        unit.known = last.copy() if last is not None and last.at == unit.begun else Known()
    return unit.known


def keep(con: Any) -> None:
    """`con`'s transaction writes with Warden's store functions, and this one changes no key or
    chain head the knowledge holds (e.g. a document, a step's finish): its commit keeps the
    knowledge true. A unit of work that never says so (raw SQL: a test tampering with
    the audit trail, a tool) drops it."""
    of(con)


def end(con: Any, committed_at: int | None, key: str | None = None) -> None:
    """`con`'s unit of work ended: committed (`committed_at`, the generation its commit made, on
    file `key`, held or not) or rolled back (None: the file's knowledge is dropped too, to be
    safe). A commit also takes the knowledge from every other unit of work open on the file (a
    unit of another Store of this process, nested in it on this thread): its snapshot may not
    have started yet (DuckDB starts it at the first statement that touches a table), so the
    commit may be in it; it probes from now on, and its own commit keeps nothing."""
    unit = _UNITS.pop(id(con), None)
    if committed_at is not None and key is not None and _UNITS:
        with _LOCK:
            for other in list(_UNITS.values()):
                if other.key == key:
                    other.begun = None
                    other.known = None
    if unit is None:
        return
    with _LOCK:
        if committed_at is None:
            _FILES.pop(unit.key, None)
            return
        known = unit.known
        if known is None or unit.begun is None or committed_at != unit.begun + 1:
            return  # wrote nothing it noted, or raced: the file's knowledge is not true now
        known.at = committed_at
        if len(known.fresh) > _MAX_FRESH:
            _drop_oldest(known)
        if len(known.steps) + len(known.findings) + len(known.events) + len(known.approvals) > _MAX_KEYS:
            known.fresh.clear()
            _drop_oldest(known)
        _FILES[unit.key] = known


def _drop_oldest(known: Known) -> None:
    """Keep the newest half of the fresh runs, and only their keys (less knowledge is always
    true knowledge: what is dropped is read again when asked)."""
    for run_id in list(known.fresh)[: len(known.fresh) - _MAX_FRESH // 2]:
        del known.fresh[run_id]
    keep = known.fresh
    known.steps = {k for k in known.steps if k[0] in keep}
    known.findings = {k for k in known.findings if k[0] in keep}
    known.events = {k for k in known.events if k.split(":", 1)[0] in keep}
    known.documents = {run: ids for run, ids in known.documents.items() if run in keep}
    known.approvals = {k for k in known.approvals if k[0] in keep}


def forget(key: str | None = None) -> None:
    """Drop the knowledge of file `key` (None: of every file)."""
    with _LOCK:
        if key is None:
            _FILES.clear()
        else:
            _FILES.pop(key, None)
