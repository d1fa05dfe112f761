"""An analyser step: its context (systems, model session, cost recording), its attempts under
the step's retry policy and the tree's caps, and the records it leaves.
"""

from __future__ import annotations

import time
from typing import Any

from warden.analyser import AnalyserContext
from warden.errors import WardenError
from warden.graph.context import RunContext
from warden.graph.executor import RetriesCutShort, StepTimeout, call_with_retries
from warden.graph.ledger import tagged
from warden.graph.llm_steps import entry_ids, llm_session, remaining_budget
from warden.graph.nodes._common import set_status
from warden.graph.nodes.step.batching import UNKEYED
from warden.graph.nodes.step.gate import would_pass_cost_cap
from warden.graph.nodes.step.inputs import step_inputs
from warden.graph.state import RunState, StateUpdate
from warden.schemas.outputs import OutputContractError, check_output
from warden.schemas.runbook import AnalyserStep, Limits, ModelConfig, RunbookDefinition
from warden.store import costs, ledger

__all__ = ["RELEASE_AFTER_S", "analyser_context", "run_analyser"]

RELEASE_AFTER_S = 1.0
"""An analyser running longer than this gives the DuckDB file back to other processes."""


def analyser_context(
    state: RunState,
    ctx: RunContext,
    step_id: str,
    system_id: str | None = None,
    limits: Limits | None = None,
    requested: ModelConfig | None = None,
) -> AnalyserContext:
    """What an analyser may see and use; ``requested`` is the runbook's ``model:`` block."""
    policy = ctx.policy
    tenant = policy.tenant(state["tenant"])
    next_id = entry_ids(state, step_id)
    budget = remaining_budget(ctx, state, limits or Limits())

    def record_cost(
        amount_usd: float,
        *,
        model: str | None = None,
        tokens_in: int = 0,
        tokens_out: int = 0,
        kind: str = "llm",
    ) -> None:
        ctx.memo[(UNKEYED, state["run_id"])] = True  # not re-run by a batch: see replayable
        with ctx.store.connect() as con:
            costs.add_cost(
                con,
                entry_id=next_id(),
                run_id=state["run_id"],
                root_run_id=state["root_run_id"],
                step_id=step_id,
                kind=kind,
                amount_usd=amount_usd,
                model=model,
                tokens_in=tokens_in,
                tokens_out=tokens_out,
            )

    session = llm_session(ctx, state, step_id, budget, requested)
    return AnalyserContext(
        tenant=state["tenant"],
        run_id=state["run_id"],
        step_id=step_id,
        depth=state.get("depth", 0),
        system_id=system_id,
        systems=tuple(tenant.systems),
        base_dir=policy.base_dir,
        allowed_roots=ctx.allowed_roots(state["tenant"]),
        available_analysers=tuple(a for a in tenant.analysers if a in ctx.catalogue),
        llm_model=session.model_name if session is not None else ctx.llm_model,
        record_cost=record_cost,
        approval_role=tenant.approval.required_roles[0] if tenant.approval.required_roles else None,
        llm=session,
        budget_usd=budget,
        planner_mode=ctx.llm_settings.planner if ctx.llm_settings else "auto",
    )


def run_analyser(
    state: RunState,
    ctx: RunContext,
    runbook: RunbookDefinition,
    current: AnalyserStep,
    limits: Limits,
    elapsed: float,
    cursor: int,
    pending: list[dict[str, Any]],
    attempts_before: int,
) -> StateUpdate:
    manifest = ctx.catalogue.get(current.analyser)
    assert manifest is not None  # the guard refused unknown analysers
    fn = ctx.catalogue.load(current.analyser)
    inputs = step_inputs(ctx, state, runbook, current, pending)
    analyser_ctx = analyser_context(state, ctx, current.id, current.system, limits, runbook.model)
    timeout = current.timeout_s or limits.step_timeout_s
    # the tree's time left bounds the step whole: every attempt and every backoff between them
    remaining = limits.max_duration_s - elapsed if limits.max_duration_s is not None else None
    budget = analyser_ctx.budget_usd  # USD left under the cost cap, read fresh; None uncapped
    estimate = manifest.cost_estimate_usd
    tried = [0]
    failures: list[dict[str, Any]] = []  # audit records of failed attempts
    started_at = ledger.stamp()

    def row(status: str, **fields: Any) -> dict[str, Any]:
        return ledger.step_record(
            run_id=state["run_id"],
            step_id=current.id,
            kind="analyser",
            analyser=current.analyser,
            system_id=current.system,
            status=status,
            attempts=attempts_before + max(tried[0], 1),
            started_at=started_at,
            **fields,
        )

    def attempt(n: int) -> Any:
        tried[0] = n
        return fn(inputs, dict(current.config), analyser_ctx)

    def failed(n: int, exc: BaseException) -> None:
        failures.append(
            ledger.audit_record(
                run_id=state["run_id"],
                root_run_id=state["root_run_id"],
                tenant=state["tenant"],
                actor="warden",
                event="step_attempt_failed",
                payload={"step": current.id, "attempt": n, "error": str(exc)},
                key=f"{state['run_id']}:{current.id}:failed:{n}",
            )
        )

    flushed = [False]

    def before_release() -> None:
        # the analyser has run past a second and the file goes to other processes: let them
        # see the steps done so far and this one running
        with ctx.store.connect() as con:
            ledger.flush(con, [*pending, *list(failures), row("running", finished_at=None, duration_s=None)])
        flushed[0] = True

    def may_retry() -> None:
        # an attempt may have recorded costs: a retry must fit the tree's cost cap as the step did
        left = budget()
        if would_pass_cost_cap(estimate, left):
            raise WardenError(
                f"a retry (est. ${estimate:.4f}) would pass the cap of ${limits.max_cost_usd or 0:.4f} "
                f"(${max(left or 0.0, 0):.4f} left)",
                code="budget_exceeded",
                fix="raise max_cost_usd in the runbook or policy, or lower the step's retry.max_attempts",
            )

    started = time.perf_counter()
    deadline = time.monotonic() + remaining if remaining is not None else None
    try:
        # an analyser may take minutes: past a second, let other processes at the store
        with ctx.store.release_after(RELEASE_AFTER_S, before_release):
            output = call_with_retries(
                attempt, current.retry, timeout, deadline=deadline, may_retry=may_retry, on_failure=failed
            )
    except Exception as exc:
        took = time.perf_counter() - started
        timed_out = isinstance(exc, StepTimeout)
        records = [
            *pending,
            *failures,
            row(
                "timed_out" if timed_out else "failed",
                finished_at=ledger.stamp(),
                duration_s=took,
                error=f"{type(exc).__name__}: {exc}",
            ),
        ]
        if isinstance(exc, RetriesCutShort):
            return set_status(
                ctx,
                state,
                "timed_out",
                f"step '{current.id}': the run tree's {limits.max_duration_s:g}s time cap ended its "
                f"retries after attempt {exc.attempt} of {current.retry.max_attempts} ({exc.why}; "
                f"last error: {type(exc.last).__name__}: {exc.last})",
                records,
            )
        if isinstance(exc, StepTimeout) and exc.capped:
            return set_status(
                ctx, state, "timed_out", f"step '{current.id}' ran into the run tree's time cap", records
            )
        if isinstance(exc, WardenError) and exc.code == "budget_exceeded":
            return set_status(ctx, state, "budget_exceeded", f"step '{current.id}': {exc.message}", records)
        what = f"[{exc.code}] {exc}" if isinstance(exc, WardenError) else f"{type(exc).__name__}: {exc}"
        return set_status(ctx, state, "failed", f"step '{current.id}' failed: {what}", records)
    took = time.perf_counter() - started
    done = [] if flushed[0] else pending
    try:
        found = check_output(manifest.output_schema, output)
    except OutputContractError as exc:
        failed_row = row("failed", finished_at=ledger.stamp(), duration_s=took, error=f"bad_output: {exc}")
        return set_status(
            ctx,
            state,
            "failed",
            f"step '{current.id}' failed: bad_output: {exc}",
            [*done, *failures, failed_row],
        )
    records = [
        *failures,
        row(
            "completed",
            finished_at=ledger.stamp(),
            duration_s=took,
            output=output,
            output_schema=manifest.output_schema,
        ),
    ]
    if found:
        records.append(
            ledger.findings_record(
                found,
                run_id=state["run_id"],
                root_run_id=state["root_run_id"],
                step_id=current.id,
                tenant=state["tenant"],
            )
        )
    records.append(
        ledger.audit_record(
            run_id=state["run_id"],
            root_run_id=state["root_run_id"],
            tenant=state["tenant"],
            actor="warden",
            event="step_completed",
            payload={
                "step": current.id,
                "analyser": current.analyser,
                "analyser_version": manifest.version,
                "system": current.system,
                "findings": len(found),
                "seconds": round(took, 4),
            },
            key=f"{state['run_id']}:{current.id}:completed",
        )
    )
    # checkpointed with the cursor that marks the step done; written to the store in a batch
    return {"cursor": cursor + 1, "ledger": [*done, *tagged(records)]}
