"""The SQLite file LangGraph checkpoints run trees into (the embedded engine's durability)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

__all__ = ["open_checkpointer"]


def open_checkpointer(path: Path) -> Any:
    """A LangGraph SqliteSaver on `path` in WAL mode, its tables set up."""
    from langgraph.checkpoint.sqlite import SqliteSaver

    conn = sqlite3.connect(str(path), check_same_thread=False, timeout=60)
    conn.execute("PRAGMA journal_mode=WAL")
    saver = SqliteSaver(conn)
    saver.setup()
    return saver
