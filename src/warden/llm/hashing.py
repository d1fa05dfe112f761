"""The request hash that keys recordings: model, messages and parameters, nothing else.

Run ids, timestamps and attempt numbers stay out of it, so the same request made by a
replayed run finds the response recorded for the original.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.messages import BaseMessage

__all__ = ["canonical_messages", "request_hash"]


def canonical_messages(messages: Sequence[BaseMessage]) -> list[dict[str, Any]]:
    """Role and content of each message: what the endpoint sees, minus ids and metadata."""
    return [{"role": m.type, "content": m.content} for m in messages]


def request_hash(
    model: str,
    messages: Sequence[BaseMessage],
    params: Mapping[str, Any],
    *,
    max_tokens: int,
    temperature: float,
) -> str:
    """sha256 over the canonical JSON of the request."""
    body = {
        "model": model,
        "messages": canonical_messages(messages),
        "params": dict(params),
        "max_tokens": max_tokens,
        "temperature": temperature,
    }
    text = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()
