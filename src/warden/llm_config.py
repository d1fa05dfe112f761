"""Which language model, if any, is configured. Offline (None) is the default.

Kept for its callers; the full configuration (endpoint, timeouts, prices) is
:mod:`warden.llm.config`.
"""

from __future__ import annotations

import os

from warden.credentials import without_password  # one implementation, kept here for its callers
from warden.llm.config import MODEL_ENV, load_settings

__all__ = ["BASE_URL_ENV", "MODEL_ENV", "configured_model", "model_configuration", "without_password"]


def configured_model() -> str | None:
    """The model from $WARDEN_LLM_MODEL or the config file, or None when Warden runs offline."""
    return load_settings().model


BASE_URL_ENV = "OPENAI_BASE_URL"


def model_configuration(model: str | None, base_url: str | None = None) -> dict[str, str | None]:
    """What a run was configured with, for the audit trail: offline, or model name and endpoint
    (``base_url`` as configured, else $OPENAI_BASE_URL).

    The endpoint is recorded without credentials (a password in the URL never reaches the store).
    """
    if model is None:
        return {"mode": "offline", "model": None, "base_url": None}
    endpoint = base_url or os.environ.get(BASE_URL_ENV)
    return {"mode": "llm", "model": model, "base_url": without_password(endpoint)}
