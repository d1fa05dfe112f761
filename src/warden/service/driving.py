"""Who drives a run tree: a lease per tree, so a tree whose driver died can be told from one a
live process is driving.

The embedded engine runs a tree's graph in the process that asked (the CLI, a server worker).
While it does, that process holds an exclusive ``flock`` on ``<home>/drivers/<root>.lock`` and
has written its ``host:pid`` in it. The kernel releases the lock when the process ends, however
it ends (SIGKILL too), so "the lock is free" is exactly "nobody is driving this tree", with no
heartbeat to tune and no pid that may have been reused. The file keeps the last driver's
``host:pid`` after a crash (a clean release empties it): the audit names it.

Inside one process the lease is re-entrant for the thread holding it (a resume that then drives
takes it once), and other threads of the process wait for it like other processes do.

A lock file says a tree is this state directory's; on a ledger several hosts share, the ledger
also names the host of each tree (``tree_hosts``, by the id in ``<home>/host_id``), so another
host can be told whose a tree is, and an administrator's take-over of a tree whose host is gone
(``warden resume --take-over``) is seen by both.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import secrets
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from warden.errors import WardenError
from warden.graph.context import RunContext
from warden.graph.engine import EmbeddedEngine, Outcome
from warden.processes import pid_alive
from warden.store.faults import os_fault

if TYPE_CHECKING:
    from warden.store import Store

__all__ = [
    "DRIVERS",
    "HOST_ID",
    "DriverLeases",
    "FencedStore",
    "LeasedEngine",
    "RunBusy",
    "alive",
    "this_driver",
]

DRIVERS = "drivers"
"""Folder of the state directory holding one lock file per run tree ever driven."""
HOST_ID = "host_id"
"""File of the state directory holding its host id (made once: a hostname may change, as a
container's does on restart, while the directory and its checkpoints stay)."""


def this_driver() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class RunBusy(WardenError):
    """Another live process is driving the tree (or already started it)."""

    code = "run_busy"


class DriverLeases:
    """The per-tree driver leases of one state directory."""

    def __init__(self, home: Path, store: Store | None = None) -> None:
        """`store`: the ledger on which :meth:`mark_here` names this host as the tree's, when
        several hosts may share it (Postgres)."""
        self.home = Path(home)
        self.store = store
        self._host_id: str | None = None
        self.folder = Path(home) / DRIVERS
        self._mutex = threading.Lock()
        self._locks: dict[str, threading.RLock] = {}
        self._held: dict[str, list[int]] = {}  # root -> [fd, depth] while this process holds it
        self.last_driver: dict[str, str | None] = {}
        """Per tree, what the lock file named when this process last took the lease: the driver
        that died (after a crash), or None (after a clean release, or never driven)."""
        from warden.service.liveness import HostBeat

        self.beats = HostBeat(self)
        """This process's heartbeat for this host on a shared ledger (service/liveness.py)."""

    def _path(self, root_run_id: str) -> Path:
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,100}", root_run_id):
            raise ValueError(f"not a run id: {root_run_id!r}")
        return self.folder / f"{root_run_id}.lock"

    def _thread_lock(self, root_run_id: str) -> threading.RLock:
        with self._mutex:
            return self._locks.setdefault(root_run_id, threading.RLock())

    @contextmanager
    def lease(self, root_run_id: str, *, wait: bool = True) -> Iterator[bool]:
        """Hold the tree's lease for the block; yields False (holding nothing) when `wait` is
        False and another thread or process holds it."""
        lock = self._thread_lock(root_run_id)
        if not lock.acquire(blocking=wait):
            yield False
            return
        try:
            held = self._held.get(root_run_id)
            if held is not None:  # this thread holds it already: re-entered
                held[1] += 1
                try:
                    yield True
                finally:
                    held[1] -= 1
                return
            fd = self._open(root_run_id)
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    yield False
                    return
                previous = _read(fd)
                os.ftruncate(fd, 0)
                try:
                    os.pwrite(fd, f"{this_driver()}\n".encode(), 0)
                except OSError as exc:  # a full disk: the lock holds, the name is only for the audit
                    if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                        raise
                self._held[root_run_id] = [fd, 1]
                self.last_driver[root_run_id] = previous
                try:
                    yield True
                finally:
                    del self._held[root_run_id]
                    os.ftruncate(fd, 0)  # a clean release: nobody drives it now
                    fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)
        finally:
            lock.release()

    def _open(self, root_run_id: str) -> int:
        """The tree's lock file, created if need be; a storage fault is coded like the store's."""
        path = self._path(root_run_id)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            return os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            fault = os_fault(exc, path)
            if fault is None:
                raise
            raise fault from None

    def mark_here(self, root_run_id: str) -> None:
        """Create the tree's lock file (unlocked) when this state directory records the tree, so
        :meth:`known` says it is this directory's from then on, even if the process dies before
        it first drives it; on a ledger several hosts share, name this host as the tree's there."""
        os.close(self._open(root_run_id))
        if self.store is not None and self.store.backend != "duckdb":
            from warden.store import hosts, retrying_conflicts

            def record() -> None:
                assert self.store is not None
                with self.store.connect() as con:
                    hosts.record_host(con, root_run_id, self.host_id, socket.gethostname(), self.where)

            retrying_conflicts(record)

    @property
    def where(self) -> str:
        """The state directory's path, as the ledger shows it to people."""
        return str(self.home.resolve())

    @property
    def host_id(self) -> str:
        """This state directory's host id: ``<hostname>-<8 hex>``, made once and kept in
        ``<home>/host_id`` (two state directories on one machine are two hosts)."""
        if self._host_id is None:
            path = self.home / HOST_ID
            if not path.exists():
                made = f"{socket.gethostname()}-{secrets.token_hex(4)}"
                partial = self.home / f".{HOST_ID}.{os.getpid()}.{threading.get_ident()}"
                try:
                    self.home.mkdir(parents=True, exist_ok=True)
                    partial.write_text(made + "\n", encoding="utf-8")
                    try:
                        os.link(partial, path)  # atomic, and the first one made stays
                    except FileExistsError:
                        pass
                    finally:
                        partial.unlink(missing_ok=True)
                except OSError as exc:
                    fault = os_fault(exc, path)
                    if fault is None:
                        raise
                    raise fault from None
            self._host_id = path.read_text(encoding="utf-8").strip()
        return self._host_id

    def check_ours(self, root_run_id: str) -> None:
        """On a ledger several hosts share, refuse to drive a tree the ledger names another host
        for (`run_on_other_host`): another host took it over after this one looked. Read once
        this host's heartbeat is on record, so of a take-over and a drive that begin at once,
        the take-over sees the heartbeat (`host_alive`) or the drive sees the new host; a take-over
        that still comes between (this host silent a while) is met by the fence of every write
        (:class:`FencedStore`)."""
        if self.store is None or self.store.backend == "duckdb":
            return
        from warden.service.errors import RunOnOtherHost
        from warden.store import hosts

        with self.store.connect(read_only=True) as con:
            row = hosts.host_of(con, root_run_id)
        if row is not None and row["host"] != self.host_id:
            raise RunOnOtherHost(
                f"run '{root_run_id}' was taken over by host '{row['host']}' ({row['hostname']}, state "
                f"directory {row['home']}): this host no longer drives it",
                fix=f"resume or decide it on that host (`warden resume {root_run_id}` there)",
            )

    def fenced(self, ctx: RunContext, root_run_id: str) -> RunContext:
        """`ctx` whose write units of work check, each in its own transaction, that the ledger
        still names this host as the tree's (:class:`FencedStore`); `ctx` itself on the DuckDB
        file (one host) or when it is fenced for the tree already."""
        store = ctx.store
        if store.backend == "duckdb" or (isinstance(store, FencedStore) and store.root_run_id == root_run_id):
            return ctx
        return replace(ctx, store=cast("Store", FencedStore(store, root_run_id, self.host_id)))

    def known(self, root_run_id: str) -> bool:
        """Whether this state directory recorded or drove the tree (its checkpoints are here):
        on a ledger several hosts share, another host's trees are not."""
        return self._path(root_run_id).exists()

    def driven_elsewhere(self, root_run_id: str) -> str | None:
        """The host:pid of the live process driving the tree (this process's own while one of
        its threads does), or None when nobody holds the lease. Never waits."""
        path = self._path(root_run_id)
        if not path.exists():
            return None
        fd = os.open(path, os.O_RDONLY)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return _read(fd) or "another process"
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        finally:
            os.close(fd)


class FencedStore:
    """A drive's view of the ledger, several hosts sharing it: every write unit of work first
    locks the tree's ``tree_hosts`` row (``hosts.fence``, one indexed read in the transaction
    just begun) and goes on only while it names this host. A take-over's UPDATE of that row
    waits for such a unit of work, or the unit waits for the take-over and then sees it, so a
    drive that wakes after its tree was taken over (a stopped process, a long pause, a healed
    partition) writes nothing more, audits nothing, and stops with `run_taken_over`. A tree
    with no host row (older trees) is not fenced. Everything else is the store's own."""

    def __init__(self, store: Store, root_run_id: str, host_id: str) -> None:
        self._store = store
        self.root_run_id = root_run_id
        self.host_id = host_id
        self._lost: dict[str, Any] | None = None  # the row that named another host, once seen

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    @contextmanager
    def connect(self, *, read_only: bool = False) -> Iterator[Any]:
        """The store's unit of work; a write one only while the tree is still this host's."""
        if self._lost is not None:
            raise self._taken_over(self._lost)
        with self._store.connect(read_only=read_only) as con:
            if not read_only:
                self._check(con)
            yield con

    def _check(self, con: Any) -> None:
        """Refuse the unit of work (rolled back) unless the locked row names this host. A
        serialisation failure on the lock is a take-over that committed after this snapshot:
        read the row again, outside the failed transaction, to say so."""
        from warden.store import hosts
        from warden.store.connection import is_write_conflict

        try:
            row = hosts.fence(con, self.root_run_id)
        except Exception as exc:
            if not is_write_conflict(exc):
                raise
            with self._store.connect(read_only=True) as fresh:
                row = hosts.host_of(fresh, self.root_run_id)
            if row is None or row["host"] == self.host_id:
                raise
        if row is not None and row["host"] != self.host_id:
            self._lost = row
            raise self._taken_over(row)

    def _taken_over(self, row: dict[str, Any]) -> WardenError:
        from warden.service.errors import RunTakenOver

        at = row.get("taken_over_at")
        when = f" at {at.isoformat(timespec='seconds')} UTC" if at is not None else ""
        root = self.root_run_id
        return RunTakenOver(
            f"run '{root}' was taken over{when} by host '{row['host']}' ({row['hostname']}, state "
            f"directory {row['home']}) while this process ({this_driver()}, host '{self.host_id}') "
            "was driving it: this process stopped and wrote nothing after the take-over",
            fix=f"nothing to do here: the tree goes on on that host (follow it with `warden tree {root}`; "
            f"resume or decide it there: `warden resume {root}`)",
        )


def alive(driver: str) -> bool | None:
    """Whether the process a ``host:pid`` names (a driver, a decision's claimant) is alive:
    None when it is on another machine (this one cannot tell: on a shared ledger its heartbeat
    can, ``liveness.process_alive``)."""
    host, _, pid = driver.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return None
    return pid_alive(int(pid))


def _read(fd: int) -> str | None:
    text = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
    return text or None


class LeasedEngine(EmbeddedEngine):
    """The embedded engine, driving each tree under its driver lease: another process driving
    the same tree is waited for, and a new run that another process has already started (an
    orphan's resumer got there first) is refused rather than started twice."""

    def __init__(self, checkpoint_path: Path, leases: DriverLeases) -> None:
        super().__init__(checkpoint_path)
        self.leases = leases

    def drive(self, ctx: RunContext, root_run_id: str, start: Any) -> Outcome:
        # on a shared ledger this host beats while it drives: a take-over from another host is
        # refused while it does (service/liveness.py); and every write is fenced, should a
        # take-over happen anyway (this host silent for a while): see FencedStore
        ctx = self.leases.fenced(ctx, root_run_id)
        with self.leases.beats.hold("driver"):
            self.leases.check_ours(root_run_id)  # after this host's beat is on record
            with self.leases.lease(root_run_id, wait=False) as mine:
                if mine:
                    return self._drive_leased(ctx, root_run_id, start)
            # another driver has the tree: wait for it without keeping the DuckDB file open (it
            # may need the file to finish; holding it while waiting would deadlock the two)
            ctx.store.release()
            with self.leases.lease(root_run_id):
                return self._drive_leased(ctx, root_run_id, start)

    def _drive_leased(self, ctx: RunContext, root_run_id: str, start: Any) -> Outcome:
        from warden.graph import recovery

        if isinstance(start, dict) and not recovery.never_checkpointed(self.pending(root_run_id)):
            raise RunBusy(
                f"run '{root_run_id}' was already started by another process",
                fix=f"follow it with `warden runs` / `warden review {root_run_id}`",
            )
        return super().drive(ctx, root_run_id, start)
