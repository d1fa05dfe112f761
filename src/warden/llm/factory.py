"""The one place a real chat model is built: ``ChatOpenAI`` against OpenAI or any
OpenAI-compatible endpoint (Ollama, vLLM).

The Chat Completions API is used (``use_responses_api=False``): OpenAI-compatible servers do
not implement the Responses API. The client's own retries are off (``max_retries=0``): the
seam retries, so every attempt is counted, recorded and bounded in one place.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from warden.errors import UsageError
from warden.llm.bounded import body_limit, capped_client
from warden.llm.config import LlmSettings

if TYPE_CHECKING:
    from langchain_openai import ChatOpenAI

__all__ = ["LOCAL_KEY", "chat_model"]

LOCAL_KEY = "not-needed"
"""Sent as the API key to a custom base URL when none is configured (local servers ignore it)."""


def chat_model(settings: LlmSettings) -> ChatOpenAI:
    """A ChatOpenAI for the configured model; a usage error when none can be built."""
    from langchain_openai import ChatOpenAI

    if not settings.model:
        raise UsageError(
            "no language model is configured",
            fix="set WARDEN_LLM_MODEL (and OPENAI_BASE_URL for a local server), or plan offline",
            code="llm_not_configured",
        )
    key = settings.api_key.get_secret_value() if settings.api_key else None
    if key is None and settings.base_url is None:
        raise UsageError(
            f"model '{settings.model}' is configured for OpenAI but OPENAI_API_KEY is not set",
            fix="export OPENAI_API_KEY, or set OPENAI_BASE_URL to a local OpenAI-compatible server",
            code="llm_no_key",
        )
    return ChatOpenAI(
        model=settings.model,
        api_key=key or LOCAL_KEY,
        base_url=settings.base_url,
        timeout=settings.timeout_s,
        max_retries=0,
        max_tokens=settings.max_output_tokens,
        temperature=settings.temperature,
        use_responses_api=False,
        stream_usage=False,
        # the reply's body is read only up to what max_tokens allows (warden.llm.bounded)
        http_client=capped_client(body_limit(settings.max_output_tokens), timeout=settings.timeout_s),
    )
