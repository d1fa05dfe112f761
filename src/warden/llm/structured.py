"""Structured output through the seam: ask for a JSON object matching a schema, parse it,
validate it, and re-ask a bounded number of times with the errors fed back.

The request is bound as plain OpenAI parameters (``response_format`` for ``json_schema``, one
forced tool for ``function_calling``), the same ones ``ChatOpenAI.with_structured_output``
binds, so the real client, langchain's fake models and the replaying model all take the same
path, and the raw message (with its token usage) is always at hand. An endpoint that rejects
``json_schema`` (HTTP 400) is asked again with ``function_calling``, and the session
remembers the switch.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from warden.llm.config import StructuredMethod
from warden.llm.errors import LlmError
from warden.llm.session import LlmSession, OversizedReply

__all__ = ["InvalidOutput", "call_structured", "parse_structured", "structured_params"]

T = TypeVar("T")

_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


class InvalidOutput(ValueError):
    """The model's answer is not the object asked for; ``errors`` go back to the model."""

    def __init__(self, errors: list[str], raw: str) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors
        self.raw = raw


def structured_params(schema: dict[str, Any], name: str, method: StructuredMethod) -> dict[str, Any]:
    """The invoke parameters that ask for one object of ``schema``."""
    if method == "json_schema":
        return {
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": name, "schema": schema, "strict": False},
            }
        }
    return {
        "tools": [{"type": "function", "function": {"name": name, "parameters": schema}}],
        "tool_choice": {"type": "function", "function": {"name": name}},
        "parallel_tool_calls": False,
    }


def parse_structured(message: AIMessage, name: str) -> tuple[Any, str]:
    """(object, raw text) from a tool call named ``name`` or from JSON content."""
    for call in message.tool_calls:
        if call["name"] == name:
            return call["args"], json.dumps(call["args"], ensure_ascii=False)
    for bad in message.invalid_tool_calls:
        raw = bad.get("args") or ""
        raise InvalidOutput(
            [f"the tool call arguments are not valid JSON: {bad.get('error') or raw[:200]}"], raw
        )
    raw = message.content if isinstance(message.content, str) else json.dumps(message.content)
    fenced = _FENCE.match(raw)
    text = fenced.group(1) if fenced else raw
    if not text.strip():
        raise InvalidOutput(["the reply was empty; a JSON object was expected"], raw)
    try:
        return json.loads(text), raw
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, a too long integer, too deep
        raise InvalidOutput([f"the reply is not valid JSON: {_why(exc)}"], raw) from None


def _why(exc: ValueError | RecursionError) -> str:
    """What was wrong, short. ``json.loads`` raises a plain ValueError for an integer longer than
    ``sys.get_int_max_str_digits()`` (4300) and RecursionError for arrays or objects nested past
    the interpreter's recursion limit (a 60 KB reply of brackets): both are re-asked like any
    other bad JSON, not let out of the seam uncoded."""
    if isinstance(exc, RecursionError):
        return "it is nested too deeply; an object needs only a few levels"
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at line {exc.lineno} column {exc.colno}"
    return f"a number is too long ({str(exc)[:120]}); use numbers of a few digits"


def _feedback(name: str, errors: list[str]) -> HumanMessage:
    listed = "\n".join(f"- {e}" for e in errors[:20])
    return HumanMessage(
        f"Your previous reply was not a valid {name}. Problems:\n{listed}\n"
        f"Reply again with the complete, corrected {name} object and nothing else."
    )


def _ask(
    session: LlmSession, conversation: list[BaseMessage], schema: dict[str, Any], name: str, purpose: str
) -> AIMessage:
    """One call; an endpoint that rejects ``json_schema`` is asked again with a forced tool call."""
    try:
        return session.call(
            conversation, params=structured_params(schema, name, session.structured_method), purpose=purpose
        )
    except LlmError as exc:
        if exc.kind != "bad_request" or session.structured_method != "json_schema":
            raise
        session.structured_method = "function_calling"  # the endpoint rejects json_schema
        return session.call(
            conversation, params=structured_params(schema, name, "function_calling"), purpose=purpose
        )


def call_structured(
    session: LlmSession,
    messages: Sequence[BaseMessage],
    *,
    schema: dict[str, Any],
    name: str,
    validate: Callable[[Any], T],
    purpose: str,
    max_attempts: int | None = None,
) -> T:
    """Ask until ``validate`` accepts the object (it raises :class:`InvalidOutput` otherwise)."""
    attempts = max_attempts or session.settings.max_output_attempts
    conversation = list(messages)
    problems: list[str] = []
    for attempt in range(1, attempts + 1):
        try:
            data, _ = parse_structured(_ask(session, conversation, schema, name, purpose), name)
            return validate(data)
        except OversizedReply as exc:  # its truncated copy goes back, like any invalid reply
            problems = [exc.message]
            if attempt < attempts:
                conversation += [AIMessage(content=exc.raw), _feedback(name, problems)]
        except InvalidOutput as exc:
            problems = exc.errors
            if attempt < attempts:
                conversation += [AIMessage(content=exc.raw), _feedback(name, exc.errors)]
    raise LlmError(
        f"the model did not produce a valid {name} in {attempts} attempt(s): " + "; ".join(problems[:5]),
        kind="bad_output",
        fix="try a stronger model or raise max_output_attempts",
        attempts=attempts,
    )
