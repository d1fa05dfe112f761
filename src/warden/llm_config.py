"""Which language model, if any, is configured. Offline (None) is the default."""

from __future__ import annotations

import os

__all__ = ["BASE_URL_ENV", "MODEL_ENV", "configured_model", "model_configuration"]

MODEL_ENV = "WARDEN_LLM_MODEL"


def configured_model() -> str | None:
    """The model name from $WARDEN_LLM_MODEL, or None when Warden runs offline."""
    value = os.environ.get(MODEL_ENV, "").strip()
    return value or None


BASE_URL_ENV = "OPENAI_BASE_URL"


def model_configuration(model: str | None) -> dict[str, str | None]:
    """What a run was configured with, for the audit trail: offline, or model name and endpoint.

    The endpoint is recorded without credentials (a password in the URL never reaches the store).
    """
    if model is None:
        return {"mode": "offline", "model": None, "base_url": None}
    return {"mode": "llm", "model": model, "base_url": _without_password(os.environ.get(BASE_URL_ENV))}


def _without_password(url: str | None) -> str | None:
    from urllib.parse import urlsplit, urlunsplit

    if not url:
        return None
    parts = urlsplit(url.strip())
    if parts.password is None:
        return urlunsplit(parts)
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if parts.port is not None:
        host += f":{parts.port}"
    user = f"{parts.username}:***@" if parts.username else "***@"
    return urlunsplit(parts._replace(netloc=user + host))
