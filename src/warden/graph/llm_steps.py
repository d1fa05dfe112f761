"""What a step gets for calling a model: the tree's remaining budget, and a session that
records every call into the cost ledger and the ``llm_calls`` table as it happens.

Calls are written one transaction each, so a run that fails or hits its cap halfway keeps
what it spent and what the model said.

A session made for one attempt (:class:`~warden.graph.executor.Attempt`) sends nothing once
that attempt has ended: a call, and each of the seam's own retries, is refused before it is
sent. A call already sent when the attempt is abandoned is billed by the provider, so it is
still booked; until it is, the most it could cost is reserved against the tree's cost cap
(:func:`remaining_budget`), so the step's retry cannot spend the same money again.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage

from warden.graph.context import RunContext
from warden.graph.executor import Attempt, AttemptOver
from warden.graph.state import RunState
from warden.llm.config import LlmSettings
from warden.llm.errors import LlmError
from warden.llm.session import CallRecord, LlmSession
from warden.schemas.runbook import Limits, ModelConfig
from warden.store import costs, llm_calls

__all__ = ["entry_ids", "llm_session", "model_allowed", "remaining_budget", "reserved_usd", "step_settings"]

_SPENDING: dict[str, dict[Attempt, int]] = {}
"""Attempts with model calls under way (how many), by the root run id of their tree."""
_SPENDING_LOCK = threading.Lock()


def reserved_usd(root_run_id: str) -> float:
    """The most the model calls still under way in the tree's abandoned attempts could cost."""
    with _SPENDING_LOCK:
        attempts = list(_SPENDING.get(root_run_id, {}))
    return sum(a.reserved_usd() for a in attempts)


def entry_ids(state: RunState, step_id: str) -> Callable[[], str]:
    """Unique ids for one step's rows (cost entries, model calls): run, step, time, counter."""
    counter = itertools.count(1)
    return lambda: f"{state['run_id']}:{step_id}:{time.time_ns()}:{next(counter)}"


def remaining_budget(ctx: RunContext, state: RunState, limits: Limits) -> Callable[[], float | None]:
    """USD left under the tree's cost cap, read fresh from the ledger, less what model calls of
    abandoned attempts still under way could cost (:func:`reserved_usd`); None when uncapped."""

    def remaining() -> float | None:
        if limits.max_cost_usd is None:
            return None
        reserved = reserved_usd(state["root_run_id"])
        with ctx.store.connect(read_only=True) as con:
            return limits.max_cost_usd - costs.tree_cost(con, state["root_run_id"]) - reserved

    return remaining


def step_settings(ctx: RunContext, requested: ModelConfig | None) -> LlmSettings | None:
    """The process's model settings with the runbook's ``model:`` block applied: its model (at
    the configured endpoint), temperature and output-token cap. None when no endpoint is
    configured: the step runs offline (the guard warned when the runbook asked for a model)."""
    settings = ctx.llm_settings
    if settings is None or not settings.model:
        return None
    if requested is None:
        return settings
    update: dict[str, Any] = {"model": requested.model, "temperature": requested.temperature}
    if requested.max_tokens is not None:
        update["max_output_tokens"] = requested.max_tokens
    return settings.model_copy(update=update)


def model_allowed(ctx: RunContext, tenant: str, model: str | None = None) -> bool:
    """A model is configured and the policy lists it among the tenant's models."""
    name = model or ctx.llm_model
    return bool(name) and name in ctx.policy.tenant(tenant).models


def _over() -> LlmError:
    return LlmError(
        "a model call was refused: the step's attempt has ended (timed out and abandoned, or returned)",
        kind="refused",
        code="attempt_over",
        fix="raise the step's timeout_s if its model calls need longer",
    )


class _AttemptModel:
    """The chat model as an attempt's session sees it: each send (the seam's retries too) is
    refused once the attempt has ended."""

    def __init__(self, model: Any, attempt: Attempt) -> None:
        self.model = model
        self.attempt = attempt

    def invoke(self, messages: Any, **params: Any) -> Any:
        if self.attempt.closed:
            raise _over()
        return self.model.invoke(messages, **params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)


class _AttemptSession(LlmSession):
    """A session bound to one attempt: a call (with its booking) is spending of the attempt,
    refused once it has ended, and waited for by the executor if it is under way then."""

    attempt: Attempt
    root_run_id: str

    def call(
        self, messages: Sequence[BaseMessage], *, params: dict[str, Any] | None = None, purpose: str = "call"
    ) -> AIMessage:
        if self.attempt.closed:
            raise _over()
        with _SPENDING_LOCK:
            mine = _SPENDING.setdefault(self.root_run_id, {})
            mine[self.attempt] = mine.get(self.attempt, 0) + 1
        try:
            with self.attempt.spending("a model call", self.estimate_usd(messages)):
                return super().call(messages, params=params, purpose=purpose)
        except AttemptOver:
            raise _over() from None
        finally:
            with _SPENDING_LOCK:
                mine = _SPENDING[self.root_run_id]
                mine[self.attempt] -= 1
                if not mine[self.attempt]:
                    del mine[self.attempt]
                if not mine:
                    del _SPENDING[self.root_run_id]


def llm_session(
    ctx: RunContext,
    state: RunState,
    step_id: str,
    budget: Callable[[], float | None],
    requested: ModelConfig | None = None,
    attempt: Attempt | None = None,
) -> LlmSession | None:
    """A session for one step (with the runbook's ``model:`` block), or None when the tenant
    runs offline; bound to `attempt` when given (see the module's docstring)."""
    settings = step_settings(ctx, requested)
    if settings is None or not model_allowed(ctx, state["tenant"], settings.model):
        return None
    next_id = entry_ids(state, step_id)

    def record(call: CallRecord) -> None:
        call_id = next_id()
        with ctx.store.connect() as con:
            llm_calls.insert_call(
                con,
                call_id=call_id,
                run_id=state["run_id"],
                root_run_id=state["root_run_id"],
                step_id=step_id,
                record=call,
            )
            if call.response is not None:  # answered, so billed: also a reply refused as bad output
                costs.add_cost(
                    con,
                    entry_id=f"llm:{call_id}",
                    run_id=state["run_id"],
                    root_run_id=state["root_run_id"],
                    step_id=step_id,
                    kind="llm_replay" if call.replayed else "llm",
                    amount_usd=call.cost_usd,
                    model=call.model,
                    tokens_in=call.tokens_in,
                    tokens_out=call.tokens_out,
                )

    factory: Callable[[], Any] | None = None
    if ctx.chat_model is None:
        from warden.llm.factory import chat_model

        def factory() -> Any:
            return chat_model(settings)

    if attempt is None:
        return LlmSession(
            settings=settings,
            model=ctx.chat_model,
            factory=factory,
            budget=budget,
            recorder=record,
            replaying=ctx.replaying,
        )
    build = factory
    model = None if ctx.chat_model is None else _AttemptModel(ctx.chat_model, attempt)

    def guarded() -> Any:
        assert build is not None
        return _AttemptModel(build(), attempt)

    session = _AttemptSession(
        settings=settings,
        model=model,
        factory=guarded if build is not None else None,
        budget=budget,
        recorder=record,
        replaying=ctx.replaying,
    )
    session.attempt, session.root_run_id = attempt, state["root_run_id"]
    return session
