"""Decisions signed by the service that checked them, verified by the worker that takes them.

The workflow's validator checks a decision against the run's gate, but the approver and how
they signed in are the sender's word: anyone who reaches the Temporal server could send one.
The engine (inside a Warden service, after the principal was authenticated and the decision
checked) signs the request with the ledger's key (store/keys.py); the ``approval_take``
activity refuses a decision whose signature does not match, audited as ``approval_refused``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

__all__ = ["SIGNED_FIELDS", "sign", "signature_problem"]

SIGNED_FIELDS = ("decision", "approval_id", "policy_sha256")
"""What a signature covers: the decision (approver, role, how they signed in, the runbook's
hash, an edit), the approval it answers (run and attempt), and the policy it was checked under."""


def _message(request: dict[str, Any]) -> bytes:
    signed = {name: request.get(name) for name in SIGNED_FIELDS}
    return json.dumps(signed, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def sign(key: bytes, request: dict[str, Any]) -> str:
    """The signature of a ``decide`` request (hex HMAC-SHA256 of its signed fields)."""
    return hmac.new(key, _message(request), hashlib.sha256).hexdigest()


def signature_problem(key: bytes, request: dict[str, Any]) -> str | None:
    """Why a ``decide`` request may not be taken as a service's (None: it may)."""
    given = request.get("signature")
    if not isinstance(given, str) or not given:
        return "the decision carries no Warden service's signature (sent to the workflow directly?)"
    if not hmac.compare_digest(given, sign(key, request)):
        return "the decision's signature does not match what was decided (forged or altered)"
    return None
