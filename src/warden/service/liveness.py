"""Which hosts (and processes of other machines) are alive, on a ledger several hosts share.

A process's liveness is known on its own machine only (``processes.pid_alive``, the driver
leases' ``flock``). On a shared Postgres ledger every long-lived Warden process (``warden
serve``, ``warden worker``, a batch of analyses) and every process while it drives a tree or
carries out a decision records a **heartbeat** in the ledger (``host_beats``: its host id, i.e.
its state directory's, and its ``hostname:pid``), renewed every :data:`BEAT_S` seconds by a
daemon thread and deleted when the process stops cleanly (the end of the drive, ``atexit``).

A host is **alive** while one of its processes' rows was renewed within its window:
:data:`LIVE_BEATS` of that process's intervals (it records its interval in the row, so hosts
with other settings are judged by their own). A host with no row, or only rows past their window,
has no live Warden process as far as the ledger can tell: a take-over of its trees is allowed
(still the administrator's statement that it is gone for good); while it is alive a take-over is
refused (`host_alive`). A claim of a decision made by a process of another machine is alive
while that process beats.

On the DuckDB file (one host by construction: the file is local, and only one process writes
it at a time) nothing beats: liveness there is ``pid_alive`` and the leases' ``flock``.

Clocks: `last_seen` is the beating host's UTC clock, compared with the reader's; hosts are
expected to keep time (NTP). A skew of a few seconds is small against the 30 s window.
"""

from __future__ import annotations

import atexit
import logging
import os
import socket
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from warden.store import hosts, retrying_conflicts
from warden.store._util import now

if TYPE_CHECKING:
    from warden.service.driving import DriverLeases
    from warden.store import Store

__all__ = [
    "BEAT_S",
    "FIRST_BEAT_WAIT_S",
    "LIVE_BEATS",
    "HostBeat",
    "Seen",
    "beat_s",
    "beating",
    "fresh",
    "live_beat",
]

BEAT_S = 10.0
"""Seconds between two heartbeats of a process (``$WARDEN_HOST_BEAT_S`` overrides it)."""
FIRST_BEAT_WAIT_S = 5.0
"""How long starting to beat waits for the first heartbeat to be recorded (a ledger that does not
answer by then is reported by the work itself)."""
LIVE_BEATS = 3
"""A process is alive while its last heartbeat is younger than this many of its intervals (30 s
by default): two heartbeats may be missed (a busy ledger, a pause) before it counts as gone."""

_log = logging.getLogger(__name__)


def beat_s() -> float:
    """This process's heartbeat interval: :data:`BEAT_S`, or ``$WARDEN_HOST_BEAT_S`` (tests use a
    fraction of a second)."""
    raw = os.environ.get("WARDEN_HOST_BEAT_S", "").strip()
    try:
        value = float(raw) if raw else BEAT_S
    except ValueError:
        value = BEAT_S
    return value if 0.05 <= value <= 3600 else BEAT_S


@dataclass(frozen=True)
class Seen:
    """A live process of a host, as its newest heartbeat shows it."""

    host: str
    process: str
    hostname: str
    kind: str
    last_seen: datetime
    window_s: float

    def age_s(self, at: datetime | None = None) -> float:
        return ((at or now()) - self.last_seen).total_seconds()

    def describe(self) -> str:
        return (
            f"its process {self.process} ({self.kind}) recorded a heartbeat {max(self.age_s(), 0):.1f} s "
            f"ago (at {self.last_seen.isoformat(timespec='seconds')} UTC; a host is alive while one "
            f"of its processes beat within {self.window_s:.0f} s)"
        )


def fresh(row: dict[str, Any], at: datetime | None = None) -> bool:
    """Whether a heartbeat row is within its window."""
    window = timedelta(seconds=LIVE_BEATS * float(row["beat_s"]))
    return bool((at or now()) - row["last_seen"] < window)


def live_beat(found: list[dict[str, Any]]) -> Seen | None:
    """The newest of the rows that is within its window; None when none is (nobody alive)."""
    at = now()
    for row in found:
        if fresh(row, at):
            return Seen(
                host=row["host"],
                process=row["process"],
                hostname=row["hostname"],
                kind=row["kind"],
                last_seen=row["last_seen"],
                window_s=LIVE_BEATS * float(row["beat_s"]),
            )
    return None


def host_alive(con: Any, host: str) -> Seen | None:
    """A live process of `host`, if the ledger has one."""
    return live_beat(hosts.beats_of_host(con, host))


def process_alive(con: Any, process: str) -> Seen | None:
    """The heartbeat of a live `process` (``hostname:pid``), if it beats."""
    return live_beat(hosts.beats_of_process(con, process))


def beating(store: Store) -> list[dict[str, Any]] | None:
    """Every process that beats on the ledger, by host, each alive or silent by its own window
    (what `warden doctor` lists: whose take-over would be refused now); None on the DuckDB file,
    where nothing beats (one host: its processes and leases say who is alive)."""
    if store.backend == "duckdb":
        return None
    with store.connect(read_only=True) as con:
        found = hosts.all_beats(con)
    at = now()
    return [
        {
            "host": row["host"],
            "hostname": row["hostname"],
            "home": row["home"],
            "process": row["process"],
            "kind": row["kind"],
            "last_seen": row["last_seen"].isoformat(timespec="seconds"),
            "age_s": round((at - row["last_seen"]).total_seconds(), 1),
            "window_s": LIVE_BEATS * float(row["beat_s"]),
            "alive": fresh(row, at),
        }
        for row in found
    ]


_BEATING: weakref.WeakSet[HostBeat] = weakref.WeakSet()
_EXIT_REGISTERED = False
_REGISTRY_LOCK = threading.Lock()


def _stop_all() -> None:
    """At exit: stop every heartbeat of this process (the thread ends before the interpreter
    finalises, and the rows go: a clean stop makes its host silent at once)."""
    for beat in list(_BEATING):
        with suppress(Exception):
            beat.stop(exiting=True)


def _run(
    ref: weakref.ref[HostBeat], stop: threading.Event, first: threading.Event, interval_s: float
) -> None:
    """The heartbeat thread: beats at once, then every interval until stopped, or until its
    service is gone (collected)."""
    try:
        beat = ref()
        if beat is not None:
            beat.touch()
        del beat
    finally:
        first.set()
    while not stop.wait(interval_s):
        beat = ref()
        if beat is None:
            return
        beat.touch()
        del beat


class HostBeat:
    """The heartbeat of this process for one state directory (host), on a shared ledger.

    :meth:`hold` beats for a block (a drive, a carry-out), nested holds share one thread;
    :meth:`forever` beats until :meth:`stop` or exit (a long-lived process). The thread does every
    write. Nothing happens on the DuckDB file."""

    def __init__(self, leases: DriverLeases) -> None:
        self.leases = leases
        self.interval_s = beat_s()
        self._lock = threading.Lock()
        self._holds = 0
        self._forever = False
        self._kind = "driver"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._wrote = False

    @property
    def enabled(self) -> bool:
        store = self.leases.store
        return store is not None and store.backend != "duckdb"

    @property
    def process(self) -> str:
        return f"{socket.gethostname()}:{os.getpid()}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def touch(self) -> None:
        """Record one heartbeat now (a failure to is logged, not raised: liveness is advisory)."""
        if not self.enabled:
            return
        try:
            self._beat(self._kind)
        except Exception as exc:  # the ledger is unreachable: the host will look silent
            _log.warning("could not record this host's heartbeat: %s", exc)

    @contextmanager
    def hold(self, kind: str = "driver") -> Iterator[None]:
        """Beat while the block runs: the first heartbeat is recorded before the block starts,
        then one every interval (by the heartbeat thread: the caller's own units of work are
        not touched)."""
        if not self.enabled:
            yield
            return
        with self._lock:
            self._holds += 1
            first = self._holds == 1 and not self._forever
            if first:
                self._kind = kind
        if first:
            self._start()
        try:
            yield
        finally:
            with self._lock:
                self._holds -= 1
                last = self._holds == 0 and not self._forever
            if last:
                self.stop()

    def forever(self, kind: str) -> None:
        """Beat until :meth:`stop` or this process's exit (a long-lived process); the first
        heartbeat is recorded before this returns."""
        if not self.enabled:
            return
        with self._lock:
            self._forever = True
            self._kind = kind
        self._start()

    def _start(self) -> None:
        """Start the heartbeat thread, if it is not running, and wait (at most
        :data:`FIRST_BEAT_WAIT_S`) until it recorded its first heartbeat."""
        global _EXIT_REGISTERED
        with _REGISTRY_LOCK:
            _BEATING.add(self)
            if not _EXIT_REGISTERED:
                atexit.register(_stop_all)
                _EXIT_REGISTERED = True
        with self._lock:
            if self.running:
                return
            self._stop = threading.Event()
            first = threading.Event()
            # a daemon thread that only speaks to Postgres (never DuckDB: nothing beats there),
            # stopped and joined by atexit before the interpreter finalises
            self._thread = threading.Thread(
                target=_run,
                args=(weakref.ref(self), self._stop, first, self.interval_s),
                name="warden-host-beat",
                daemon=True,
            )
            self._thread.start()
        first.wait(FIRST_BEAT_WAIT_S)

    def _beat(self, kind: str) -> None:
        store = self.leases.store
        assert store is not None
        host, hostname, home = self.leases.host_id, socket.gethostname(), self.leases.where

        def write() -> None:
            with store.connect() as con:
                hosts.beat(
                    con, host, self.process, hostname=hostname, home=home, kind=kind, beat_s=self.interval_s
                )

        retrying_conflicts(write)
        self._wrote = True

    def stop(self, *, exiting: bool = False) -> None:
        """Stop beating (the thread joined) and delete this process's row: its host is silent
        at once unless another of its processes beats. A hold begun meanwhile (another thread's
        drive) keeps its row, unless the process is `exiting`."""
        with self._lock:
            self._forever = False
            thread, self._thread = self._thread, None
            self._stop.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10)
        with _REGISTRY_LOCK:
            _BEATING.discard(self)
        with self._lock:
            keep = self._holds > 0 and not exiting
        if keep:  # a hold begun while this stop joined the old thread
            self._start()
            return
        if not self._wrote or not self.enabled:
            return
        store = self.leases.store
        assert store is not None
        try:
            with store.connect() as con:
                hosts.end_beat(con, self.leases.host_id, self.process)
            self._wrote = False
        except Exception as exc:  # the row ages out after its window instead
            _log.warning("could not remove this host's heartbeat: %s", exc)
