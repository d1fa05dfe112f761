"""An analyser step: its context (systems, model session, cost recording), its attempts under
the step's retry policy and the tree's caps, and the records it leaves.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from warden.analyser import AnalyserContext
from warden.errors import WardenError
from warden.graph.context import RunContext
from warden.graph.executor import Attempt, AttemptOver, RetriesCutShort, StepTimeout, call_with_retries
from warden.graph.ledger import tagged
from warden.graph.llm_steps import entry_ids, llm_session, remaining_budget
from warden.graph.nodes._common import set_status
from warden.graph.nodes.step.batching import UNKEYED
from warden.graph.nodes.step.gate import would_pass_cost_cap
from warden.graph.nodes.step.inputs import step_inputs
from warden.graph.state import RunState, StateUpdate
from warden.schemas.outputs import OutputContractError, check_output
from warden.schemas.runbook import AnalyserStep, Limits, ModelConfig, RunbookDefinition
from warden.store import costs, ledger, steps

__all__ = ["HEARTBEAT_S", "RELEASE_AFTER_S", "analyser_context", "run_analyser"]

RELEASE_AFTER_S = 1.0
"""An analyser running longer than this gives the DuckDB file back to other processes."""

HEARTBEAT_S = 1.0
"""How often a step running past :data:`RELEASE_AFTER_S` writes the time it has run so far into
its ``running`` row: a process killed mid-step leaves that time counted against the tree's
time cap (at most this much of it is lost)."""

EXIT_JOIN_S = 10.0
"""How long a step waits for a heartbeat write under way when the step ends."""

_log = logging.getLogger(__name__)


def analyser_context(
    state: RunState,
    ctx: RunContext,
    step_id: str,
    system_id: str | None = None,
    limits: Limits | None = None,
    requested: ModelConfig | None = None,
    attempt: Attempt | None = None,
) -> AnalyserContext:
    """What an analyser may see and use; ``requested`` is the runbook's ``model:`` block.
    With `attempt`, its costs and model calls are refused once that attempt has ended (an
    abandoned analyser thread runs on: what it spends then must not reach the ledger)."""
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
        with _spending(attempt, f"a cost of ${amount_usd:.4f}"), ctx.store.connect() as con:
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

    session = llm_session(ctx, state, step_id, budget, requested, attempt)
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


@contextlib.contextmanager
def _spending(attempt: Attempt | None, what: str) -> Iterator[None]:
    """A cost recorded under `attempt`; refused (logged: the money may be spent, but the run
    it would be booked to has moved on) once the attempt has ended."""
    if attempt is None:
        yield
        return
    try:
        with attempt.spending(what):
            yield
    except AttemptOver:
        _log.warning("an analyser recorded %s after its attempt ended; not booked", what)
        raise


def _heartbeat(ctx: RunContext, state: RunState, step_id: str, ran_s: Any, stop: threading.Event) -> None:
    """Write the step's time so far into its ``running`` row every :data:`HEARTBEAT_S` until
    `stop` is set (a failed write is tried again at the next beat). The file is given back after
    each write, as it was before the first: the step is still running."""
    while not stop.wait(HEARTBEAT_S):
        with contextlib.suppress(Exception):
            with ctx.store.connect() as con:
                steps.beat_step(con, state["run_id"], step_id, duration_s=ran_s())
            ctx.store.release()


def _run(
    ctx: RunContext,
    before_release: Callable[[], None],
    beating: threading.Event,
    beats: list[threading.Thread],
    attempts: Callable[[], Any],
) -> Any:
    """`attempts()` with the store released past :data:`RELEASE_AFTER_S` (an analyser may take
    minutes: let other processes at the store), then the heartbeat stopped and waited for (a
    write under way ends with it, never at the process's exit)."""
    try:
        with ctx.store.release_after(RELEASE_AFTER_S, before_release):
            try:
                return attempts()
            finally:
                beating.set()
    finally:
        for beat in beats:
            beat.join(timeout=EXIT_JOIN_S)


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
    carried_s: float = 0.0,
) -> StateUpdate:
    """Run the step's attempts; `carried_s` is the time an earlier attempt ran before its
    process died (its ``running`` row's heartbeat), kept in the step's duration."""
    manifest = ctx.catalogue.get(current.analyser)
    assert manifest is not None  # the guard refused unknown analysers
    fn = ctx.catalogue.load(current.analyser)
    inputs = step_inputs(ctx, state, runbook, current, pending)
    contexts: dict[int, Any] = {}
    timeout = current.timeout_s or limits.step_timeout_s
    # the tree's time left bounds the step whole: every attempt and every backoff between them
    remaining = limits.max_duration_s - elapsed if limits.max_duration_s is not None else None
    budget = remaining_budget(ctx, state, limits)  # USD left under the cost cap; None uncapped
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

    def token(n: int) -> Attempt:
        # each attempt its own context: an abandoned attempt's spending is refused by its own
        attempt = Attempt()
        contexts[n] = analyser_context(state, ctx, current.id, current.system, limits, runbook.model, attempt)
        return attempt

    def attempt(n: int) -> Any:
        tried[0] = n
        if n not in contexts:  # no token made (the executor's callers all make one)
            token(n)
        return fn(inputs, dict(current.config), contexts[n])

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
    beating = threading.Event()
    beats: list[threading.Thread] = []

    def ran_s() -> float:
        return carried_s + time.perf_counter() - started

    def before_release() -> None:
        # the analyser has run past a second and the file goes to other processes: let them
        # see the steps done so far and this one running, with the time it has run so far
        # (kept up by a heartbeat: the time counts against the tree's cap if the process dies)
        with ctx.store.connect() as con:
            ledger.flush(
                con, [*pending, *list(failures), row("running", finished_at=None, duration_s=ran_s())]
            )
        flushed[0] = True
        if not beating.is_set():
            beat = threading.Thread(
                target=_heartbeat,
                args=(ctx, state, current.id, ran_s, beating),
                name="warden-beat",
                daemon=True,
            )
            beats.append(beat)
            beat.start()

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
        output = _run(
            ctx,
            before_release,
            beating,
            beats,
            lambda: call_with_retries(
                attempt,
                current.retry,
                timeout,
                deadline=deadline,
                may_retry=may_retry,
                on_failure=failed,
                token=token,
            ),
        )
    except Exception as exc:
        took = ran_s()
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
    took = ran_s()
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
