"""Which language model, if any, is configured. Offline (None) is the default.

Kept for its callers; the full configuration (endpoint, timeouts, prices) is
:mod:`warden.llm.config`.
"""

from __future__ import annotations

from warden.llm.config import MODEL_ENV, load_settings

__all__ = ["MODEL_ENV", "configured_model"]


def configured_model() -> str | None:
    """The model from $WARDEN_LLM_MODEL or the config file, or None when Warden runs offline."""
    return load_settings().model
