"""A run's comment thread."""

from __future__ import annotations

from typing import Any

from warden.credentials import scrub
from warden.errors import UsageError
from warden.service._base import ServiceBase
from warden.service.principal import Principal
from warden.service.queue import (
    Comment,
)
from warden.store import (
    audit,
    comments,
)

__all__ = ["MAX_COMMENT_CHARS", "CommentOps"]

MAX_COMMENT_CHARS = 10_000


class CommentOps(ServiceBase):
    def comment(self, p: Principal, run_id: str, text: str) -> Comment:
        """Add a comment to a run's thread (any member of its tenant may; audited)."""
        import uuid

        body = (text or "").strip()
        if not body:
            raise UsageError("a comment needs text", fix="write something")
        if len(body) > MAX_COMMENT_CHARS:
            raise UsageError(
                f"a comment is at most {MAX_COMMENT_CHARS} characters (this one has {len(body)})",
                fix="shorten it, or split it in two",
            )
        # a credential pasted into the thread is masked before anything stores or audits it
        # (the store masks again: the same text, since scrubbing is idempotent)
        body = scrub(body)
        with self._one_connection():
            row = self._visible_run(p, run_id)
            comment_id = f"c-{uuid.uuid4().hex[:16]}"
            with self.store.connect() as con:
                added = comments.add_comment(
                    con,
                    comment_id=comment_id,
                    run_id=run_id,
                    root_run_id=row["root_run_id"],
                    tenant=row["tenant"],
                    author=p.user,
                    auth=p.auth,
                    text=body,
                )
                audit.audit(
                    con,
                    run_id=run_id,
                    root_run_id=row["root_run_id"],
                    tenant=row["tenant"],
                    actor=p.user,
                    event="comment_added",
                    key=f"{run_id}:comment_added:{comment_id}",
                    payload={"comment_id": comment_id, "text": body, "auth": p.auth},
                )
        return _comment(added)

    def comments(self, p: Principal, run_id: str) -> list[Comment]:
        """A run's comment thread, oldest first."""
        with self._one_connection():
            self._visible_run(p, run_id)
            with self.store.connect(read_only=True) as con:
                return [_comment(r) for r in comments.comments_of(con, run_id)]


def _comment(row: dict[str, Any]) -> Comment:
    return Comment(
        comment_id=row["comment_id"],
        run_id=row["run_id"],
        author=row["author"],
        auth=row["auth"],
        text=row["text"],
        created_at=row["created_at"],
    )
