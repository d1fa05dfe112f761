"""Which language model, if any, is configured. Offline (None) is the default."""

from __future__ import annotations

import os

__all__ = ["MODEL_ENV", "configured_model"]

MODEL_ENV = "WARDEN_LLM_MODEL"


def configured_model() -> str | None:
    """The model name from $WARDEN_LLM_MODEL, or None when Warden runs offline."""
    value = os.environ.get(MODEL_ENV, "").strip()
    return value or None
