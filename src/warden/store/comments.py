"""Comment threads on runs: what reviewers say to each other about a draft, in order."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from warden.store._util import now, rows, scrub

__all__ = ["add_comment", "comments_of"]


def add_comment(
    con: Any,
    *,
    comment_id: str,
    run_id: str,
    root_run_id: str,
    tenant: str,
    author: str,
    auth: str,
    text: str,
    at: datetime | None = None,
) -> dict[str, Any]:
    """Append a comment (credentials in its text masked); the same id twice adds it once."""
    con.execute(
        """INSERT INTO comments (comment_id, run_id, root_run_id, tenant, author, auth, text, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING""",
        [comment_id, run_id, root_run_id, tenant, author, auth, scrub(text), at or now()],
    )
    found = rows(con.execute("SELECT * FROM comments WHERE comment_id = ?", [comment_id]))
    return found[0]


def comments_of(con: Any, run_id: str) -> list[dict[str, Any]]:
    """A run's thread, oldest first."""
    return rows(con.execute("SELECT * FROM comments WHERE run_id = ? ORDER BY seq", [run_id]))
