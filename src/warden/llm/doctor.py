"""What `warden doctor` reports: the active mode and settings, and whether the endpoint answers.

The check lists the endpoint's models (``GET /models``: free, and it proves the URL and the
key). Servers without that route are asked for a one-token completion instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from warden.errors import WardenError
from warden.llm.config import LlmSettings
from warden.llm.failures import classify
from warden.llm_config import without_password

__all__ = ["EndpointCheck", "check_endpoint", "describe"]

OPENAI_DEFAULT_URL = "https://api.openai.com/v1"


@dataclass(frozen=True)
class EndpointCheck:
    """The outcome of one real request to the endpoint."""

    ok: bool
    detail: str
    code: str | None = None
    fix: str | None = None


def describe(settings: LlmSettings) -> dict[str, Any]:
    """The settings worth showing, the key redacted."""
    key, price = settings.price_table().price_for(settings.model or "")
    return {
        "mode": settings.mode,
        "model": settings.model,
        # a password in the URL is redacted like the key (the audit trail records it so too)
        "base_url": without_password(settings.base_url) or (OPENAI_DEFAULT_URL if settings.model else None),
        "api_key": settings.redacted_key(),
        "planner": settings.planner,
        "timeout_s": settings.timeout_s,
        "max_retries": settings.max_retries,
        "max_output_tokens": settings.max_output_tokens,
        "structured_output": settings.structured_output,
        "price_usd_per_1m": {"table_entry": key, "input": price.input, "output": price.output},
        "config": settings.source,
    }


def check_endpoint(settings: LlmSettings) -> EndpointCheck:
    """One real request; a failure is described, never raised."""
    from warden.llm.factory import chat_model

    try:
        model = chat_model(settings)
    except WardenError as exc:
        return EndpointCheck(False, exc.message, exc.code, exc.fix)
    import openai

    try:
        listed = [m.id for m in model.root_client.models.list()]
    except openai.NotFoundError:
        return _one_token(model)
    except Exception as exc:  # any client failure is the answer to the check
        return _failed(exc)
    where = "listed" if settings.model in listed else "NOT listed (check the model name)"
    return EndpointCheck(
        settings.model in listed,
        f"the endpoint lists {len(listed)} model(s); '{settings.model}' is {where}",
        None if settings.model in listed else "llm_not_found",
        None if settings.model in listed else "set WARDEN_LLM_MODEL to one the endpoint lists",
    )


def _one_token(model: Any) -> EndpointCheck:
    from langchain_core.messages import HumanMessage

    try:
        model.invoke([HumanMessage("Reply with OK.")], max_tokens=1)
    except Exception as exc:
        return _failed(exc)
    return EndpointCheck(True, "the endpoint has no model list, but answered a one-token completion")


def _failed(exc: BaseException) -> EndpointCheck:
    failure = classify(exc)
    fixes = {
        "connection": "is the server running? check OPENAI_BASE_URL",
        "timeout": "the server did not answer in time; check it, or raise timeout_s",
        "auth": "check OPENAI_API_KEY",
        "not_found": "check OPENAI_BASE_URL (it usually ends in /v1)",
        "rate_limited": "the key is rate-limited or out of quota",
    }
    return EndpointCheck(
        False, failure.message, f"llm_{failure.kind}", fixes.get(failure.kind, "see the message")
    )
