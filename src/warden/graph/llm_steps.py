"""What a step gets for calling a model: the tree's remaining budget, and a session that
records every call into the cost ledger and the ``llm_calls`` table as it happens.

Calls are written one transaction each, so a run that fails or hits its cap halfway keeps
what it spent and what the model said.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any

from warden.graph.context import RunContext
from warden.graph.state import RunState
from warden.llm.config import LlmSettings
from warden.llm.session import CallRecord, LlmSession
from warden.schemas.runbook import Limits, ModelConfig
from warden.store import costs, llm_calls

__all__ = ["entry_ids", "llm_session", "model_allowed", "remaining_budget", "step_settings"]


def entry_ids(state: RunState, step_id: str) -> Callable[[], str]:
    """Unique ids for one step's rows (cost entries, model calls): run, step, time, counter."""
    counter = itertools.count(1)
    return lambda: f"{state['run_id']}:{step_id}:{time.time_ns()}:{next(counter)}"


def remaining_budget(ctx: RunContext, state: RunState, limits: Limits) -> Callable[[], float | None]:
    """USD left under the tree's cost cap, read fresh from the ledger; None when uncapped."""

    def remaining() -> float | None:
        if limits.max_cost_usd is None:
            return None
        with ctx.store.connect(read_only=True) as con:
            return limits.max_cost_usd - costs.tree_cost(con, state["root_run_id"])

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


def llm_session(
    ctx: RunContext,
    state: RunState,
    step_id: str,
    budget: Callable[[], float | None],
    requested: ModelConfig | None = None,
) -> LlmSession | None:
    """A session for one step (with the runbook's ``model:`` block), or None when the tenant
    runs offline."""
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

    return LlmSession(
        settings=settings,
        model=ctx.chat_model,
        factory=factory,
        budget=budget,
        recorder=record,
        replaying=ctx.replaying,
    )
