"""The seam: the one place a chat model is called.

Domain code *prepares* messages and *finalises* (parses, validates) the answer; only
:meth:`LlmSession.call` touches the model. It checks the run tree's budget before the call
(estimated prompt tokens and the maximum output, priced), retries rate limits, timeouts and
5xx with exponential backoff, records every attempt (request hash, messages, response, tokens,
cost, latency), and checks the budget again with the actual usage. The model may be the real
``ChatOpenAI``, a langchain fake, or the replaying model: the logic is the same.

What the endpoint says is not trusted: a reply longer than ``max_output_tokens`` could produce
(:data:`MAX_CHARS_PER_TOKEN`) is refused as bad output and only a truncated copy is kept, and
usage that is negative, not an integer or past :data:`MAX_REPORTED_TOKENS` is refused too,
booking the most the call could cost (and at least the bound, for a count past it).

Nothing an endpoint does makes a call free, or the cost cap would never stop it:

- a reply with no usage, or a zero count where the call cannot have used none (any prompt; a
  non-empty reply), is accepted and booked at the most the call could cost for that count:
  servers that omit usage stay usable, and spend the cap faster than they really do;
- a call that fails after the endpoint answered 2xx (a reply the client cannot parse, or cut at
  the body cap or the deadline of :mod:`warden.llm.bounded`) is recorded with a stub response
  and booked at the most it could cost: the endpoint did the work.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from langchain_core.messages import AIMessage, BaseMessage, message_to_dict

from warden.llm.bounded import exchange
from warden.llm.config import LlmSettings, StructuredMethod
from warden.llm.errors import BudgetExceeded, FailureKind, LlmError
from warden.llm.failures import Failure, backoff_s, classify
from warden.llm.hashing import canonical_messages, request_hash
from warden.llm.pricing import estimate_prompt_tokens

__all__ = [
    "KEPT_REPLY_CHARS",
    "MAX_CHARS_PER_TOKEN",
    "MAX_REPORTED_TOKENS",
    "CallOutcome",
    "CallRecord",
    "LlmSession",
    "OversizedReply",
    "reply_chars",
    "usage_of",
]

MAX_CHARS_PER_TOKEN = 16
"""The most characters one output token is taken to stand for. Real tokens average about four
characters of English; long runs of digits, base64 or a repeated character pack more, but not
16. A reply longer than ``16 × max_output_tokens`` is one the endpoint was not allowed to send
(a broken proxy, a server ignoring ``max_tokens``, or an attack): refused before it is parsed,
stored or fed back."""

MAX_REPORTED_TOKENS = 10**9
"""The most tokens one usage count may report: a thousand times any context window of today,
far below what the ledger's BIGINT (and a float price) holds. A count past it is invalid usage,
booked at this bound: never less than a smaller, valid count would have been."""

KEPT_REPLY_CHARS = 16_000
"""How much of a refused oversized reply is stored in ``llm_calls`` and fed back to the model.

The HTTP client still reads the body whole: the openai client's httpx body has no size cap short
of replacing its transport (which would drop proxy settings from the environment), so the bound
is applied here, before the reply is parsed, copied, stored or fed back. Measured on the 50 MB
reply of tests/attacks (loopback server in the same process): 370 MB peak RSS, 714 MB before
the bound, 205 MB for the same run with small replies."""

CallOutcome = Literal["ok", FailureKind]
"""``ok`` for an answered call, else the failure kind of the attempt (see ``FailureKind``)."""

Budget = Callable[[], float | None]
Recorder = Callable[["CallRecord"], None]


@dataclass(frozen=True)
class CallRecord:
    """One attempt at one request, as stored in the ``llm_calls`` table and the cost ledger."""

    request_hash: str
    model: str
    purpose: str
    seq: int
    attempt: int
    messages: list[dict[str, Any]]
    params: dict[str, Any]
    max_tokens: int
    temperature: float
    response: dict[str, Any] | None
    outcome: CallOutcome
    error: str | None
    tokens_in: int
    tokens_out: int
    cost_usd: float
    latency_s: float
    replayed: bool


class OversizedReply(LlmError):
    """A reply longer than ``max_output_tokens`` could produce; ``raw`` is its truncated copy, what
    the structured caller feeds back when it asks again."""

    def __init__(self, chars: int, limit: int, raw: str) -> None:
        super().__init__(
            f"the model's reply is {chars:,} characters, more than the {limit:,} its "
            f"max_output_tokens could produce ({MAX_CHARS_PER_TOKEN} a token); it was refused unparsed",
            kind="bad_output",
            fix="check the model server honours max_tokens (a proxy may be adding to replies), "
            "or raise max_output_tokens if replies this long are expected",
        )
        self.raw = raw


def _valid(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _count(usage: Any, name: str) -> int:
    value = usage.get(name) or 0
    if not _valid(value):
        raise ValueError(f"{name} is {value!r}, not a non-negative integer")
    if value > MAX_REPORTED_TOKENS:  # past BIGINT it would also crash the ledger's insert
        raise ValueError(f"{name} is {value:,}, more than the {MAX_REPORTED_TOKENS:,} a call can use")
    return int(value)


def _claimed(usage: Any, name: str) -> int:
    """What invalid usage still claims for ``name``: a count past the bound, the bound; else 0."""
    value = usage.get(name) or 0
    return min(int(value), MAX_REPORTED_TOKENS) if _valid(value) else 0


def usage_of(message: AIMessage) -> tuple[int, int] | None:
    """(input, output) tokens from the response's usage metadata; None when it has none.
    ValueError for a negative or non-integer count (priced, it would credit the run's budget) or
    one past :data:`MAX_REPORTED_TOKENS` (it would not fit the ledger)."""
    usage = message.usage_metadata
    if usage is None:
        return None
    return _count(usage, "input_tokens"), _count(usage, "output_tokens")


def _reply_text(message: AIMessage) -> str:
    """The reply as text: its content, else its tool calls' arguments (what the parser reads)."""
    content = (
        message.content if isinstance(message.content, str) else json.dumps(message.content, default=str)
    )
    args = [json.dumps(c["args"], ensure_ascii=False, default=str) for c in message.tool_calls]
    args += [c.get("args") or "" for c in message.invalid_tool_calls]
    return "\n".join([content, *args]) if args else content


def reply_chars(message: AIMessage) -> int:
    """The reply's length in characters, as the size bound counts it."""
    return len(_reply_text(message))


def _truncated(message: AIMessage, chars: int) -> tuple[dict[str, Any], str]:
    """(record, raw): what is kept of an oversized reply; the record says it was cut."""
    raw = _reply_text(message)[:KEPT_REPLY_CHARS]
    record = {"truncated": True, "chars": chars, "kept_chars": len(raw), "content": raw}
    return record, raw


def _no_budget() -> float | None:
    return None


def _no_record(_: CallRecord) -> None:
    return None


@dataclass
class LlmSession:
    """A model bound to one step of one run: its budget, its recorder and its retry policy.

    ``model`` is the chat model; or ``factory`` builds it on the first call, so a step that
    never calls a model never needs a key.
    """

    settings: LlmSettings
    model: Any = None
    factory: Callable[[], Any] | None = None
    budget: Budget = _no_budget
    recorder: Recorder = _no_record
    sleep: Callable[[float], None] = time.sleep
    replaying: bool = False
    structured_method: StructuredMethod = field(init=False)
    _seq: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if not self.settings.model:
            raise ValueError("an LlmSession needs a configured model")
        if self.model is None and self.factory is None:
            raise ValueError("an LlmSession needs a model or a factory")
        self.structured_method = self.settings.structured_output

    @property
    def model_name(self) -> str:
        assert self.settings.model is not None
        return self.settings.model

    def estimate_usd(self, messages: Sequence[BaseMessage]) -> float:
        """The most a call could cost: prompt tokens over-estimated, plus the full output allowance."""
        return self.settings.price_table().cost(
            self.model_name, self._prompt_tokens(messages), self.settings.max_output_tokens
        )

    def _check_budget_before(self, estimate: float) -> None:
        remaining = self.budget()
        if remaining is not None and estimate > remaining:
            raise BudgetExceeded(
                f"a call to '{self.model_name}' could cost up to ${estimate:.4f}, "
                f"more than the ${max(remaining, 0):.4f} left in the run tree's cost cap"
            )

    def _check_budget_after(self, cost: float) -> None:
        remaining = self.budget()
        if remaining is not None and remaining < 0:
            raise BudgetExceeded(
                f"a call to '{self.model_name}' cost ${cost:.4f} and took the run tree "
                f"${-remaining:.4f} past its cost cap"
            )

    def call(
        self, messages: Sequence[BaseMessage], *, params: dict[str, Any] | None = None, purpose: str = "call"
    ) -> AIMessage:
        """Invoke the model once, with bounded retries; every attempt is recorded."""
        params = dict(params or {})
        self._seq += 1
        key = request_hash(
            self.model_name,
            messages,
            params,
            max_tokens=self.settings.max_output_tokens,
            temperature=self.settings.temperature,
        )
        self._check_budget_before(self.estimate_usd(messages))
        if self.model is None:
            assert self.factory is not None
            self.model = self.factory()
        attempts = self.settings.max_retries + 1
        for attempt in range(1, attempts + 1):
            if attempt > 1:  # a failed attempt may have been booked (answered, then unreadable)
                self._check_budget_before(self.estimate_usd(messages))
            started = time.perf_counter()
            answer: Any = None
            failure: Failure | None = None
            with exchange() as seen:
                try:
                    answer = self.model.invoke(list(messages), **params)
                except LlmError:
                    raise
                except Exception as exc:  # the client raises many types: classify, record, decide
                    failure = classify(exc)
            if failure is None:
                if not isinstance(answer, AIMessage):
                    answer = AIMessage(content=str(getattr(answer, "content", answer)))
                return self._accept(key, purpose, attempt, messages, params, answer, started)
            answered = seen.status if seen.answered else None
            self._fail(key, purpose, attempt, messages, params, failure, started, answered)
            if failure.transient and attempt < attempts:
                if not self.replaying:
                    self.sleep(
                        backoff_s(
                            attempt,
                            failure,
                            base_s=self.settings.backoff_s,
                            max_s=self.settings.max_backoff_s,
                        )
                    )
                continue
            raise self._error(failure, attempt)
        raise AssertionError("unreachable")

    def _most_tokens(self, messages: Sequence[BaseMessage]) -> tuple[int, int]:
        """(input, output): the prompt over-estimated and the full output allowance."""
        return self._prompt_tokens(messages), self.settings.max_output_tokens

    def _fail(
        self,
        key: str,
        purpose: str,
        attempt: int,
        messages: Sequence[BaseMessage],
        params: dict[str, Any],
        failure: Failure,
        started: float,
        status: int | None,
    ) -> None:
        """Record a failed attempt. One that failed after the endpoint answered (``status``, a 2xx)
        is billed: a stub response (the ledger books answered calls), the most the call could cost."""
        if status is None:
            self._record(key, purpose, attempt, messages, params, None, failure, started)
            return
        failure = Failure(
            failure.kind,
            f"{failure.message} (after the endpoint answered HTTP {status}; "
            "the most the call could cost was booked)",
            failure.retry_after_s,
        )
        response = {"answered": status, "read": False}
        tokens = self._most_tokens(messages)
        cost = self._record(key, purpose, attempt, messages, params, response, failure, started, tokens)
        self._check_budget_after(cost)

    def _accept(
        self,
        key: str,
        purpose: str,
        attempt: int,
        messages: Sequence[BaseMessage],
        params: dict[str, Any],
        answer: AIMessage,
        started: float,
    ) -> AIMessage:
        """Record an answer and check the budget; refuse (coded, after recording) invalid usage
        or a reply longer than the output allowance could produce."""
        problem: LlmError | None = None
        chars, limit = reply_chars(answer), MAX_CHARS_PER_TOKEN * self.settings.max_output_tokens
        most_in, most_out = self._most_tokens(messages)
        try:
            reported = usage_of(answer)
        except ValueError as exc:  # booked at the most the call could cost, never a credit
            usage = answer.usage_metadata
            tokens = (
                max(most_in, _claimed(usage, "input_tokens")),
                max(most_out, _claimed(usage, "output_tokens")),
            )
            problem = LlmError(
                f"the endpoint reported invalid token usage ({exc}); the most the call could cost "
                "was booked (a count past the bound, at the bound)",
                kind="bad_output",
                fix="check the model server: its usage figures must be non-negative integers "
                f"of at most {MAX_REPORTED_TOKENS:,}",
            )
        else:  # unreported usage is booked at the most, never as free (see the module's docstring)
            tokens_in, tokens_out = reported or (0, 0)
            tokens = (tokens_in or most_in, tokens_out or (most_out if chars else 0))
        if chars > limit:
            response, raw = _truncated(answer, chars)
            problem = problem or OversizedReply(chars, limit, raw)
        else:
            response = message_to_dict(answer)
        failure = None if problem is None else Failure("bad_output", problem.message)
        cost = self._record(key, purpose, attempt, messages, params, response, failure, started, tokens)
        self._check_budget_after(cost)
        if problem is not None:
            raise problem
        return answer

    def _prompt_tokens(self, messages: Sequence[BaseMessage]) -> int:
        texts = [m.content if isinstance(m.content, str) else str(m.content) for m in messages]
        return estimate_prompt_tokens(texts)

    def _record(
        self,
        key: str,
        purpose: str,
        attempt: int,
        messages: Sequence[BaseMessage],
        params: dict[str, Any],
        response: dict[str, Any] | None,
        failure: Failure | None,
        started: float,
        tokens: tuple[int, int] = (0, 0),
    ) -> float:
        """Record one attempt; ``response`` is None when the endpoint did not answer."""
        tokens_in, tokens_out = tokens
        cost = (
            0.0
            if self.replaying
            else self.settings.price_table().cost(self.model_name, tokens_in, tokens_out)
        )
        self.recorder(
            CallRecord(
                request_hash=key,
                model=self.model_name,
                purpose=purpose,
                seq=self._seq,
                attempt=attempt,
                messages=canonical_messages(messages),
                params=params,
                max_tokens=self.settings.max_output_tokens,
                temperature=self.settings.temperature,
                response=response,
                outcome="ok" if failure is None else failure.kind,
                error=None if failure is None else failure.message,
                tokens_in=tokens_in,
                tokens_out=tokens_out,
                cost_usd=cost,
                latency_s=time.perf_counter() - started,
                replayed=self.replaying,
            )
        )
        return cost

    def _error(self, failure: Failure, attempt: int) -> LlmError:
        where = f"'{self.model_name}'" + (f" at {self.settings.base_url}" if self.settings.base_url else "")
        tries = f" after {attempt} attempt(s)" if attempt > 1 else ""
        fixes: dict[str, str] = {
            "rate_limited": "wait and resume the run, or raise max_retries / backoff_s",
            "server_error": "check the model server's logs, then resume the run",
            "timeout": "raise timeout_s (WARDEN_LLM_TIMEOUT_S), or use a faster model",
            "connection": "check OPENAI_BASE_URL and that the server is running (`warden doctor`)",
            "auth": "check OPENAI_API_KEY (`warden doctor`)",
            "not_found": "check the model name and base URL (`warden doctor` lists the models)",
            "bad_request": "the endpoint refused the request; see the message, or try "
            "structured_output: function_calling",
        }
        return LlmError(
            f"the model call to {where} failed{tries}: {failure.kind}: {failure.message}",
            kind=failure.kind,
            fix=fixes.get(failure.kind, "see the message; `warden doctor` checks the endpoint"),
            attempts=attempt,
        )
