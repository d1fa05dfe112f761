"""The SQLite file LangGraph keeps its checkpoints in (``$WARDEN_HOME/checkpoints.sqlite``).

:func:`open_checkpointer` opens it and returns a saver whose every read and write turns an
sqlite3 error about the file (not a database, malformed or truncated, read-only, a full disk)
into the coded :class:`~warden.store.faults.StorageFault` that
:func:`~warden.store.faults.checkpoint_fault` names, so a fault met while the graph runs comes
out coded too. The file is never deleted, truncated or recreated.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from langgraph.checkpoint.sqlite import SqliteSaver

from warden.store.faults import CheckpointNotAFile, StorageFault, checkpoint_fault

__all__ = ["FaultAwareSqliteSaver", "open_checkpointer"]

T = TypeVar("T")


def _coded(path: Path, exc: BaseException) -> BaseException:
    fault = checkpoint_fault(exc, path)
    return fault if fault is not None else exc


class FaultAwareSqliteSaver(SqliteSaver):
    """A SqliteSaver that raises coded storage faults instead of sqlite3 errors about its file."""

    def __init__(self, conn: sqlite3.Connection, *, path: Path, **kwargs: Any) -> None:
        super().__init__(conn, **kwargs)
        self.path = path

    def _guard(self, call: Callable[[], T]) -> T:
        try:
            return call()
        except StorageFault:
            raise
        except (sqlite3.Error, OSError) as exc:
            coded = _coded(self.path, exc)
            if coded is exc:
                raise
            raise coded from exc

    def setup(self) -> None:
        self._guard(super().setup)

    def get_tuple(self, config: Any) -> Any:
        return self._guard(lambda: super(FaultAwareSqliteSaver, self).get_tuple(config))

    def list(self, config: Any, **kwargs: Any) -> Iterator[Any]:
        it = self._guard(lambda: iter(super(FaultAwareSqliteSaver, self).list(config, **kwargs)))
        while True:
            try:
                item = self._guard(lambda: next(it))
            except StopIteration:
                return
            yield item

    def put(self, config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
        return self._guard(
            lambda: super(FaultAwareSqliteSaver, self).put(config, checkpoint, metadata, new_versions)
        )

    def put_writes(self, config: Any, writes: Any, task_id: str, task_path: str = "") -> None:
        self._guard(lambda: super(FaultAwareSqliteSaver, self).put_writes(config, writes, task_id, task_path))

    def get_delta_channel_history(self, *, config: Any, channels: Any) -> Any:
        return self._guard(
            lambda: super(FaultAwareSqliteSaver, self).get_delta_channel_history(
                config=config, channels=channels
            )
        )

    def delete_thread(self, thread_id: str) -> None:
        self._guard(lambda: super(FaultAwareSqliteSaver, self).delete_thread(thread_id))


def open_checkpointer(path: str | Path) -> SqliteSaver:
    """The checkpoint file at `path` (created when missing), set up for LangGraph, in WAL mode.

    A directory in its place, a corrupt or truncated file, a read-only directory or a full disk
    raises its coded fault here, before any run is created.
    """
    path = Path(path)
    if path.exists() and not path.is_file():
        raise CheckpointNotAFile(
            f"the checkpoint file {path} is a {'directory' if path.is_dir() else 'special file'}, not a file",
            path=path,
            fix=f"move {path} aside (it is not Warden's checkpoint file); runs waiting in it cannot "
            "continue until the real file is restored",
        )
    conn: sqlite3.Connection | None = None
    try:
        conn = sqlite3.connect(str(path), check_same_thread=False, timeout=60)
        conn.execute("PRAGMA journal_mode=WAL")
        saver = FaultAwareSqliteSaver(conn, path=path)
        saver.setup()
        # read the schema now: a file that is not a database, or is truncated, says so here
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except StorageFault:
        if conn is not None:
            conn.close()
        raise
    except (sqlite3.Error, OSError) as exc:
        if conn is not None:
            conn.close()
        coded = _coded(path, exc)
        if coded is exc:
            raise
        raise coded from exc
    return saver
