"""A chat model that answers from recordings instead of a network.

Recordings are keyed by request hash (model, messages, parameters). The attempts recorded
under one hash are played back in their original order, failures included, so a run that
was rate-limited once, or whose endpoint rejected ``json_schema``, takes the same path again.
A request that was never recorded raises :class:`~warden.llm.errors.ReplayMissing`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, messages_from_dict
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import PrivateAttr, model_validator

from warden.llm.errors import ReplayMissing
from warden.llm.failures import ReplayedFailure
from warden.llm.hashing import request_hash

__all__ = ["ReplayChatModel"]


class ReplayChatModel(BaseChatModel):
    """Plays back recorded attempts; ``recordings`` are ``llm_calls`` rows in call order."""

    model_name: str
    max_tokens: int
    temperature: float = 0.0
    recordings: list[dict[str, Any]]
    _queues: dict[str, list[dict[str, Any]]] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _queue_recordings(self) -> ReplayChatModel:
        for row in self.recordings:
            self._queues.setdefault(row["request_hash"], []).append(row)
        return self

    @classmethod
    def from_rows(
        cls, rows: Iterable[Mapping[str, Any]], *, model: str, max_tokens: int, temperature: float
    ) -> ReplayChatModel:
        """A replayer for ``llm_calls`` rows (dicts with request_hash, outcome, error, response)."""
        return cls(
            model_name=model,
            max_tokens=max_tokens,
            temperature=temperature,
            recordings=[dict(r) for r in rows],
        )

    @property
    def _llm_type(self) -> str:
        return "warden-replay"

    def remaining(self) -> int:
        """Recorded attempts not played back yet."""
        return sum(len(q) for q in self._queues.values())

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        key = request_hash(
            self.model_name, messages, kwargs, max_tokens=self.max_tokens, temperature=self.temperature
        )
        queue = self._queues.get(key)
        if not queue:
            raise ReplayMissing(
                f"no recorded response for request {key[:12]} to '{self.model_name}' "
                f"({len(messages)} message(s)): the replayed run asked something the original did not"
            )
        row = queue.pop(0)
        if row["outcome"] != "ok":
            raise ReplayedFailure(row["outcome"], row.get("error") or row["outcome"])
        (message,) = messages_from_dict([row["response"]])
        assert isinstance(message, AIMessage)
        return ChatResult(generations=[ChatGeneration(message=message)])
