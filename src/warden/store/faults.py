"""What went wrong with a state file, as a coded error that names the file and the fix.

The state directory holds two files: ``warden.duckdb`` (the store) and ``checkpoints.sqlite``
(LangGraph's checkpoints). When either cannot be opened, read or written, the error that
surfaces is DuckDB's or SQLite's text, or an ``OSError``; the functions here map it, together
with what the file system says about the path, to one :class:`StorageFault` subclass, each
with its own code:

- ``store_busy``: another process holds the DuckDB lock (and kept it too long)
- ``store_corrupt``: not a DuckDB file, empty, truncated, or a checksum mismatch
- ``store_not_a_file``: a directory (or other non-file) where the store should be
- ``store_read_only``: the store or its directory cannot be written
- ``store_unreadable``: the store cannot be read (permission denied)
- ``store_io_error``: any other I/O failure of the store
- ``disk_full``: no space left for the store or the checkpoints (resumable)
- ``checkpoint_corrupt``: ``checkpoints.sqlite`` is not a database, malformed or truncated
- ``checkpoint_not_a_file``: a directory where the checkpoint file should be
- ``checkpoint_read_only``: the checkpoint file or its directory cannot be written
- ``checkpoint_unreadable``: the checkpoint file cannot be read (permission denied)
- ``checkpoint_busy``: another process kept the checkpoint file locked too long
- ``checkpoint_io_error``: any other failure of the checkpoint file

Nothing here touches a faulty file: every fix tells the user to move the file aside or
restore it; Warden never deletes, truncates or recreates it. The functions are pure apart
from looking at the path (exists, is a directory, size, access rights, free space).
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
from pathlib import Path

from warden.errors import WardenError

__all__ = [
    "CheckpointBusy",
    "CheckpointCorrupt",
    "CheckpointIOError",
    "CheckpointNotAFile",
    "CheckpointReadOnly",
    "CheckpointUnreadable",
    "DiskFull",
    "StorageFault",
    "StoreBusy",
    "StoreCorrupt",
    "StoreIOError",
    "StoreNotAFile",
    "StoreReadOnly",
    "StoreUnreadable",
    "checkpoint_fault",
    "is_lock_error",
    "os_fault",
    "store_fault",
]

LOW_SPACE_BYTES = 1 << 20
"""Below this much free space, a write that failed without saying why is taken as a full disk."""


class StorageFault(WardenError):
    """A state file could not be opened, read or written; ``path`` names it.

    ``resumable``: a run stopped by this fault continues with ``warden resume`` once the cause is
    fixed (room made, write access given back); nothing it recorded was lost.
    """

    code = "storage_fault"
    resumable = False

    def __init__(self, message: str, *, path: Path | str, fix: str | None = None) -> None:
        super().__init__(message, fix=fix)
        self.path = Path(path)


class StoreBusy(StorageFault):
    """Another process held the database lock for longer than we were willing to wait."""

    code = "store_busy"


class StoreCorrupt(StorageFault):
    code = "store_corrupt"


class StoreNotAFile(StorageFault):
    code = "store_not_a_file"


class StoreReadOnly(StorageFault):
    code = "store_read_only"
    resumable = True


class StoreUnreadable(StorageFault):
    code = "store_unreadable"
    resumable = True


class StoreIOError(StorageFault):
    code = "store_io_error"


class DiskFull(StorageFault):
    code = "disk_full"
    resumable = True


class CheckpointCorrupt(StorageFault):
    code = "checkpoint_corrupt"


class CheckpointNotAFile(StorageFault):
    code = "checkpoint_not_a_file"


class CheckpointReadOnly(StorageFault):
    code = "checkpoint_read_only"
    resumable = True


class CheckpointUnreadable(StorageFault):
    code = "checkpoint_unreadable"
    resumable = True


class CheckpointIOError(StorageFault):
    code = "checkpoint_io_error"


class CheckpointBusy(StorageFault):
    code = "checkpoint_busy"


_KEEP = "Warden never deletes or rewrites it"


def is_lock_error(exc: BaseException) -> bool:
    """A DuckDB error that means another connection holds the file: worth waiting for.

    Only DuckDB's lock messages count ("Could not set lock on file ...: Conflicting lock is
    held"), the one it gives when this process already has the file open another way, and
    the one it gives when another thread of this process is still closing it ("Unique file
    handle conflict": the file is detached a moment later). A message merely containing
    "lock" (a truncated file's "block", say) does not.
    """
    text = str(exc).lower()
    return (
        "could not set lock" in text
        or "conflicting lock" in text
        or "different configuration than existing connections" in text
        or "unique file handle conflict" in text
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def _low_space(path: Path) -> bool:
    folder = path.parent if not path.is_dir() else path
    try:
        return shutil.disk_usage(folder).free < LOW_SPACE_BYTES
    except OSError:
        return False


def _not_writable(path: Path) -> bool:
    """The file (or, when it does not exist, its directory) may not be written by this process."""
    target = path if path.exists() else path.parent
    return not os.access(target, os.W_OK) or not os.access(path.parent, os.W_OK)


def _disk_full(path: Path, detail: str) -> DiskFull:
    return DiskFull(
        f"no space left on the disk of {path.parent} ({detail})",
        path=path,
        fix=(
            f"free some space on the disk holding {path.parent} (or move WARDEN_HOME), then run the "
            "command again; a run stopped by this resumes with `warden resume RUN`. Nothing stored "
            "was lost"
        ),
    )


def os_fault(exc: OSError, path: Path | str, *, checkpoint: bool = False) -> StorageFault | None:
    """An OSError met while creating or writing a state file or its directory, or None."""
    path = Path(path)
    what = "checkpoint file" if checkpoint else "Warden database"
    read_only, unreadable = (
        (CheckpointReadOnly, CheckpointUnreadable) if checkpoint else (StoreReadOnly, StoreUnreadable)
    )
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return _disk_full(path, exc.strerror or "ENOSPC")
    denied = exc.errno in (errno.EACCES, errno.EPERM)
    if denied and path.exists() and not os.access(path, os.R_OK):
        return unreadable(
            f"the {what} {path} cannot be read: {exc.strerror or exc}",
            path=path,
            fix=f"give this user read access to {path}",
        )
    if exc.errno == errno.EROFS or denied:
        return read_only(
            f"the {what} {path} cannot be written: {exc.strerror or exc}",
            path=path,
            fix=f"give this user write access to {path.parent} (or remount it read-write), "
            "or set WARDEN_HOME to a writable state directory",
        )
    return None


def store_fault(exc: BaseException, path: Path | str, *, writing: bool = True) -> StorageFault | None:
    """The coded error for a DuckDB (or OS) error on the store at `path`; None when it is not a
    storage fault (a bug, a constraint, a lock to wait for).

    `writing`: the store was opened (or used) read-write, so a permission problem is a
    read-only one unless the file cannot even be read.
    """
    path = Path(path)
    if isinstance(exc, OSError):
        return os_fault(exc, path)
    if is_lock_error(exc):
        return None
    text = str(exc)
    low = text.lower()
    detail = _first_line(exc)
    if path.exists() and not path.is_file():
        return StoreNotAFile(
            f"the Warden database {path} is a {'directory' if path.is_dir() else 'special file'}, not a file",
            path=path,
            fix=f"move {path} aside (it is not Warden's database), then run `warden analyse` to create "
            "a new store, or point WARDEN_HOME at the right state directory",
        )
    if "no space left" in low or "disk quota" in low or "could not write all bytes" in low:
        return _disk_full(path, detail)
    if "read-only file system" in low:
        return StoreReadOnly(
            f"the Warden database {path} cannot be written: its file system is read-only ({detail})",
            path=path,
            fix=f"remount {path.parent} read-write, or set WARDEN_HOME to a writable state directory",
        )
    if "permission denied" in low:
        if not os.access(path if path.exists() else path.parent, os.R_OK):
            return StoreUnreadable(
                f"the Warden database {path} cannot be read: permission denied",
                path=path,
                fix=f"give this user read access to {path}",
            )
        if writing:
            return StoreReadOnly(
                f"the Warden database {path} cannot be written: permission denied",
                path=path,
                fix=f"give this user write access to {path} and {path.parent}, "
                "or set WARDEN_HOME to a writable state directory",
            )
    size = _size(path)
    corrupt = (
        "not a valid duckdb database file" in low
        or "corrupt database file" in low
        or "could not read enough bytes" in low
        or "checksum" in low
        or "is not a duckdb" in low
    )
    if corrupt:
        if size == 0:
            what = "is empty (0 bytes)"
        elif "could not read enough bytes" in low:
            what = f"is truncated ({size} bytes)"
        elif "not a valid duckdb" in low:
            what = f"is not a DuckDB database ({size} bytes)"
        else:
            what = f"is corrupt ({detail})"
        return StoreCorrupt(
            f"the Warden database {path} {what}",
            path=path,
            fix=f"{_KEEP}: restore {path.name} from a backup, or move it aside (e.g. "
            f"`mv {path} {path}.broken`) and start a new store with `warden analyse`",
        )
    if "could not write" in low or "failed to commit" in low:
        if _low_space(path):
            return _disk_full(path, detail)
        if _not_writable(path):
            return StoreReadOnly(
                f"the Warden database {path} cannot be written ({detail})",
                path=path,
                fix=f"give this user write access to {path.parent}, or set WARDEN_HOME elsewhere",
            )
    if "io error" in low or "could not read" in low or "could not write" in low or "cannot open" in low:
        return StoreIOError(
            f"the Warden database {path} could not be used: {detail}",
            path=path,
            fix=f"check the disk and the file system holding {path.parent}, then run the command again",
        )
    return None


def checkpoint_fault(exc: BaseException, path: Path | str) -> StorageFault | None:
    """The coded error for an sqlite3 (or OS) error on the checkpoint file at `path`, or None."""
    path = Path(path)
    if isinstance(exc, OSError):
        return os_fault(exc, path, checkpoint=True)
    if not isinstance(exc, sqlite3.Error):
        return None
    name = getattr(exc, "sqlite_errorname", "") or ""
    low = str(exc).lower()
    detail = _first_line(exc)
    if path.exists() and not path.is_file():
        return CheckpointNotAFile(
            f"the checkpoint file {path} is a {'directory' if path.is_dir() else 'special file'}, not a file",
            path=path,
            fix=f"move {path} aside (it is not Warden's checkpoint file); runs waiting in it cannot "
            "continue until the real file is restored",
        )
    if name in ("SQLITE_FULL",) or "disk is full" in low or "no space" in low:
        return _disk_full(path, detail)
    if name in ("SQLITE_NOTADB", "SQLITE_CORRUPT") or "not a database" in low or "malformed" in low:
        size = _size(path)
        what = "is empty" if size == 0 else f"is corrupt or truncated ({detail}, {size} bytes)"
        return CheckpointCorrupt(
            f"the checkpoint file {path} {what}",
            path=path,
            fix=f"{_KEEP}: restore {path.name} from a backup (the runs it holds cannot continue "
            f"without it); or move it aside (`mv {path} {path}.broken`): finished runs stay in the "
            "store, new analyses start a new checkpoint file",
        )
    if (
        name.startswith("SQLITE_READONLY")
        or "readonly" in low
        or "read-only" in low
        or (name.startswith("SQLITE_CANTOPEN") and _not_writable(path))
    ):
        return CheckpointReadOnly(
            f"the checkpoint file {path} cannot be written ({detail})",
            path=path,
            fix=f"give this user write access to {path.parent} and {path.name} (or remount it "
            "read-write), or set WARDEN_HOME to a writable state directory",
        )
    if name.startswith("SQLITE_CANTOPEN") and path.exists() and not os.access(path, os.R_OK):
        return CheckpointUnreadable(
            f"the checkpoint file {path} cannot be read ({detail})",
            path=path,
            fix=f"give this user read access to {path}",
        )
    if name.startswith("SQLITE_BUSY") or "database is locked" in low:
        return CheckpointBusy(
            f"the checkpoint file {path} is busy ({detail})",
            path=path,
            fix="retry in a moment; another warden process is writing",
        )
    if name.startswith(("SQLITE_IOERR", "SQLITE_CANTOPEN")):
        if _low_space(path):
            return _disk_full(path, detail)
        return CheckpointIOError(
            f"the checkpoint file {path} could not be used: {detail}",
            path=path,
            fix=f"check the disk and the file system holding {path.parent}, then run the command again",
        )
    return None  # SQL the checkpointer got wrong, a constraint: a bug, not the file
