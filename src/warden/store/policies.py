"""Governance policies as the store keeps them: each version by content hash, and which one is
in force. A run records the hash it was requested under; a later decision, resume or step
reads that version back from here, never from a file that may have changed."""

from __future__ import annotations

from typing import Any

from warden.store._util import now, readers_under_lock, rows
from warden.store.connection import wrote

__all__ = [
    "POLICY_LOCK",
    "TABLES",
    "apply_policy",
    "get_policy",
    "policy_in_force",
    "policy_in_force_locked",
    "put_policy",
    "sha256_in_force",
]

TABLES = "policies"
"""The family these tables are marked written as (:func:`warden.store.connection.wrote`): what
was read from them under ``Store.generation([TABLES])`` stands until a write of them here, or a
reopen of the file."""


POLICY_LOCK = "policy"
"""The lock (``readers_under_lock``) of the policy in force: a policy application takes it
exclusively, a decision that must not be taken under an engaged kill switch in shared mode."""


def put_policy(con: Any, *, sha256: str, text: str, base_dir: str, source: str) -> None:
    """Keep a policy version (once per hash): its text and the folder its relative paths name."""
    wrote(con, TABLES)
    con.execute(
        "INSERT INTO policies VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        [sha256, source, base_dir, text, now()],
    )


def apply_policy(con: Any, *, sha256: str, applied_by: str, auth: str, reason: str | None = None) -> None:
    """Put a kept version in force (the newest application wins)."""
    wrote(con, TABLES)
    con.execute(
        """INSERT INTO policy_applications (sha256, applied_by, auth, reason, applied_at)
           VALUES (?, ?, ?, ?, ?)""",
        [sha256, applied_by, auth, reason, now()],
    )


def get_policy(con: Any, sha256: str) -> dict[str, Any] | None:
    found = rows(con.execute("SELECT * FROM policies WHERE sha256 = ?", [sha256]))
    return found[0] if found else None


def policy_in_force(con: Any) -> dict[str, Any] | None:
    """The version applied last, with who applied it and when; None before the first."""
    found = rows(
        con.execute(
            """SELECT p.*, a.applied_by, a.auth, a.applied_at, a.reason, a.seq FROM policy_applications a
               JOIN policies p USING (sha256) ORDER BY a.seq DESC LIMIT 1"""
        )
    )
    return found[0] if found else None


def sha256_in_force(con: Any) -> str | None:
    """The hash of the version applied last, without reading the version itself: what a caller
    that parsed that version already needs (the kill switch is read again after every write).
    Every application names a kept version (both are written in one transaction, and neither
    table is ever deleted from or updated), so this is :func:`policy_in_force`'s hash."""
    found = con.execute("SELECT sha256 FROM policy_applications ORDER BY seq DESC LIMIT 1").fetchone()
    return str(found[0]) if found else None


def policy_in_force_locked(con: Any, *, exclusive: bool) -> dict[str, Any] | None:
    """The policy in force as last committed (:func:`policy_in_force`), under the policy lock
    until `con`'s transaction ends: `exclusive` for an application (which builds on it: two at
    once go one after the other, the second building on the first, never losing it), shared for
    a decision (no application commits between this read and the decision's commit). DuckDB:
    `con`'s own reading (one writer at a time: the transaction serialises)."""
    found = [
        row
        for reader in readers_under_lock(con, POLICY_LOCK, shared=not exclusive)
        if (row := policy_in_force(reader)) is not None
    ]
    return max(found, key=lambda row: int(row["seq"])) if found else None
