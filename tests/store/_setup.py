"""Ledger set-up shared by the store tests (not a test module)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from warden.governance import load_policy
from warden.store import policies

__all__ = ["put_policy_in_force"]


def put_policy_in_force(con: Any, policy: Path) -> None:
    """`policy` stored and in force, as `warden policy apply` leaves it, but without its audit
    events (so a test's audit chains hold exactly the events it writes)."""
    loaded = load_policy(policy)
    policies.put_policy(
        con, sha256=loaded.sha256, text=loaded.text, base_dir=str(loaded.base_dir), source=str(loaded.path)
    )
    policies.apply_policy(con, sha256=loaded.sha256, applied_by="test", auth="asserted")
