"""The key that signs decisions a Warden service hands to a Temporal workflow.

A workflow's ``decide`` update can be sent by anyone who reaches the Temporal server, naming
any approver; only a Warden service has authenticated the person. The service signs what it
checked with this key and the worker verifies it before the decision is taken. The key lives
in the ledger, which both reach and a Temporal client alone does not; `warden ledger export`
leaves it out (see store/export.py).
"""

from __future__ import annotations

import secrets
from typing import Any

__all__ = ["DECISION_KEY", "decision_key"]

DECISION_KEY = "decision_key"
"""The ``meta`` row holding the key, as hex."""


def decision_key(con: Any) -> bytes:
    """The ledger's decision-signing key, made on first use (in `con`'s write transaction: two
    processes making it at once keep the first committed)."""
    found = con.execute("SELECT value FROM meta WHERE key = ?", [DECISION_KEY]).fetchone()
    if found is None:
        con.execute(
            "INSERT INTO meta VALUES (?, ?) ON CONFLICT DO NOTHING", [DECISION_KEY, secrets.token_hex(32)]
        )
        found = con.execute("SELECT value FROM meta WHERE key = ?", [DECISION_KEY]).fetchone()
    return bytes.fromhex(str(found[0]))
