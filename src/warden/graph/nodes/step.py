"""step: run the next step of an approved runbook, once, under the tree's caps.

Each step is its own graph superstep, so a crash loses at most the step in flight, and a
child runbook started by an ``execute_workflow`` step runs as a nested graph whose approval
interrupt surfaces at the top. A step already completed in the store is never run again.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from warden.analyser import AnalyserContext
from warden.errors import WardenError
from warden.governance.policy import tighter
from warden.graph.context import RunContext, StepProgress
from warden.graph.executor import RetriesCutShort, StepTimeout, call_with_retries
from warden.graph.ids import child_run_id
from warden.graph.ledger import due, tagged
from warden.graph.ledger import pending as ledger_of
from warden.graph.llm_steps import entry_ids, llm_session, model_allowed, remaining_budget, step_settings
from warden.graph.nodes._common import event, record, runbook_model, runbook_sha256, set_status
from warden.graph.state import RunState, StateUpdate
from warden.runbooks.templates import parse_reference
from warden.safeload import plain_data_problem
from warden.schemas.outputs import OutputContractError, check_output
from warden.schemas.runbook import AnalyserStep, Limits, ModelConfig, RunbookDefinition, WorkflowStep
from warden.schemas.status import CAP_STATUSES, RunStatus
from warden.store import costs, documents, ledger, runs, steps

__all__ = [
    "BATCH_CPU_S",
    "BATCH_WALL_S",
    "ChildRequest",
    "advance",
    "child_ended",
    "goes_on",
    "starts_in_place",
    "step",
    "superstep_clock",
]

RELEASE_AFTER_S = 1.0
"""An analyser running longer than this gives the DuckDB file back to other processes."""
BATCH_CPU_S = 1.0
"""Process CPU time after which a superstep runs no further step in place (see :func:`goes_on`):
about the most pure work a kill makes the resume do again. CPU, not wall time, so a loaded host
batches the same steps as a quiet one."""
BATCH_WALL_S = 5.0
"""Wall time after which a superstep runs no further step in place, whatever its CPU (a step
waiting on a slow read)."""
_UNKEYED = "unkeyed_write"
"""Memo key (with the run id) set when a step wrote a row that running it again would write
twice (a cost entry, a model call): such a step ends its superstep."""


@dataclass(frozen=True)
class ChildRequest:
    """A child run a step has recorded and wants run: by a nested graph (embedded) or as a child
    workflow (Temporal); :func:`child_ended` then records how it ended."""

    step_id: str
    child_run_id: str
    state: RunState
    started_at: float
    """Wall-clock time the child was handed over (for the step's duration)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "step_id": self.step_id,
            "child_run_id": self.child_run_id,
            "state": dict(self.state),
            "started_at": self.started_at,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ChildRequest:
        return cls(data["step_id"], data["child_run_id"], data["state"], data["started_at"])


def step(state: RunState, ctx: RunContext) -> StateUpdate:
    out = advance(state, ctx)
    if isinstance(out, ChildRequest):
        final = ctx.child_graph.invoke(out.state)  # a pending approval inside raises to the top
        return child_ended(state, ctx, out, final)
    return out


def advance(state: RunState, ctx: RunContext) -> StateUpdate | ChildRequest:
    """The step node up to a child run: checks, then an analyser run, or a child requested."""
    runbook, sha256, limits = _approved_model(ctx, state)
    cursor = state.get("cursor", 0)
    current = next(s for s in runbook.steps if s.id == state["order"][cursor])
    pending = ledger_of(state)
    reason = ctx.kill_switch_reason(state["tenant"])
    if reason:
        return _stop(ctx, state, current, "cancelled", f"kill switch: {reason}")
    gate, pending = _gate(ctx, state, runbook, sha256, pending)
    status, attempts = gate.steps.get(current.id, (None, 0))
    spent = gate.spent_usd
    # steps of this run whose records are still pending count against the time cap too
    elapsed = gate.elapsed_s + sum(
        r["duration_s"] or 0.0 for r in pending if r["t"] == "step" and r["kind"] == "analyser"
    )
    if not gate.approved or sha256 != state.get("runbook_sha256"):
        return _stop(ctx, state, current, "failed", "refusing to run: the runbook is not an approved version")
    if status in ("completed", "rejected"):
        return {"cursor": cursor + 1, "ledger": pending}
    if isinstance(current, AnalyserStep):
        manifest = ctx.catalogue.get(current.analyser)
        estimate = manifest.cost_estimate_usd if manifest else 0.0
        left = limits.max_cost_usd - spent if limits.max_cost_usd is not None else None
        if _would_pass_cost_cap(estimate, left):
            return _stop(
                ctx,
                state,
                current,
                "budget_exceeded",
                f"step '{current.id}' (est. ${estimate:.4f}) would pass the cap of "
                f"${limits.max_cost_usd:.4f} (spent ${spent:.4f})",
                pending,
            )
    if limits.max_duration_s is not None and elapsed >= limits.max_duration_s:
        return _stop(
            ctx,
            state,
            current,
            "timed_out",
            f"the run tree has used {elapsed:.1f}s of its {limits.max_duration_s:g}s",
            pending,
        )
    if ctx.on_step is not None:
        ctx.on_step(
            StepProgress(
                run_id=state["run_id"],
                depth=state.get("depth", 0),
                number=cursor + 1,
                total=len(state["order"]),
                step_id=current.id,
                analyser=current.analyser if isinstance(current, AnalyserStep) else None,
                elapsed_s=elapsed,
            )
        )
    if isinstance(current, AnalyserStep):
        return _run_analyser(state, ctx, runbook, current, limits, elapsed, cursor, pending, attempts)
    return _run_child(state, ctx, runbook, current, limits, cursor, status is not None, pending, attempts)


def superstep_clock() -> tuple[float, float]:
    """When a superstep started, for :func:`goes_on`: (process CPU, wall) time."""
    return time.process_time(), time.perf_counter()


def goes_on(state: RunState, ctx: RunContext, done: int, started: tuple[float, float]) -> str | None:
    """What the superstep that has just run the step at `done` (its cursor before it ran) may run
    next in place, with one checkpoint for all: ``"step"`` (the next step), ``"finish"`` (the
    run's end, after its last step), or None (the superstep ends here); `started` is when the
    superstep started (:func:`superstep_clock`).

    A kill in what runs next re-runs this step too, from the checkpoint before both, so this
    step must be pure: an analyser step that calls no model (its analyser never does, or no
    model is configured or allowed for the tenant), has no cost estimate, recorded no cost and
    wrote nothing else outside the checkpointed ledger (its records ride in the state; a flush
    of them by a later step's gate or by finish is keyed, the gate skips a step the store has
    completed, and finish's writes are idempotent); or a child run's step that moved the cursor
    on (its child completed or was rejected, and its end was committed before it returned: run
    again, the gate skips it without touching the child). And the superstep so far ran under
    :data:`BATCH_CPU_S` of CPU and :data:`BATCH_WALL_S` of wall time. A next step must
    be an analyser step (a child run starts its nested graph in a superstep of its own), and
    the run still running."""
    if (state.get("status") or "running") != "running":
        return None
    if time.process_time() - started[0] >= BATCH_CPU_S or time.perf_counter() - started[1] >= BATCH_WALL_S:
        return None
    order = state.get("order") or []
    cursor = state.get("cursor", 0)
    if cursor != done + 1 or cursor > len(order) or ctx.memo.get((_UNKEYED, state["run_id"])):
        return None
    runbook, _, _ = _approved_model(ctx, state)
    by_id = {s.id: s for s in runbook.steps}
    previous = by_id.get(order[done])
    if isinstance(previous, AnalyserStep):
        manifest = ctx.catalogue.get(previous.analyser)
        if manifest is None or manifest.cost_estimate_usd:
            return None
        if manifest.uses_llm != "never":
            settings = step_settings(ctx, runbook.model)
            if settings is not None and model_allowed(ctx, state["tenant"], settings.model):
                return None
    elif not isinstance(previous, WorkflowStep):
        return None
    if cursor == len(order):
        return "finish"
    return "step" if isinstance(by_id.get(order[cursor]), AnalyserStep) else None


def starts_in_place(state: RunState, ctx: RunContext) -> bool:
    """Whether the superstep that has just approved the run (prepare: plan, guard and a policy
    rule's approval, none of which calls a model or writes anything but keyed rows) may run its
    first step in place: the run is running and that step is an analyser step."""
    if (state.get("status") or "running") != "running":
        return False
    order = state.get("order") or []
    cursor = state.get("cursor", 0)
    if cursor >= len(order):
        return False
    runbook, _, _ = _approved_model(ctx, state)
    return any(s.id == order[cursor] and isinstance(s, AnalyserStep) for s in runbook.steps)


def _approved_model(ctx: RunContext, state: RunState) -> tuple[RunbookDefinition, str, Limits]:
    """The state's runbook as a model, its content hash and the limits; validated and hashed
    once per invocation (the state's runbook changes only with its approved hash)."""
    key = ("runbook", state["run_id"], state.get("runbook_sha256"))
    found = ctx.memo.get(key)
    if found is None or found[0] is not state["runbook"] or found[1] is not state.get("limits"):
        runbook = runbook_model(ctx, state["runbook"])
        limits = Limits.model_validate(state.get("limits") or {})
        found = (state["runbook"], state.get("limits"), runbook, runbook_sha256(ctx, runbook), limits)
        ctx.memo[key] = found
    return found[2], found[3], found[4]


def _gate(
    ctx: RunContext,
    state: RunState,
    runbook: RunbookDefinition,
    sha256: str,
    pending: list[dict[str, Any]],
) -> tuple[steps.RunGate, list[dict[str, Any]]]:
    """The run's step gate, and what is still pending after it.

    The gate is read from the store once and reused while the store is unchanged (the same
    ``Store.generation``: nothing written in this process, the file held all along). When it
    must be read again, pending records are flushed first, so the store holds every step the
    checkpoint says is done; otherwise they are flushed when due."""
    key = ("gate", state["run_id"], sha256)
    generation = ctx.store.generation()
    cached = ctx.memo.get(key)
    fresh = generation is not None and cached is not None and cached[0] == generation
    if pending and (not fresh or due(pending)):
        with ctx.store.connect() as con:
            ledger.flush(con, pending)
        pending, fresh = [], False
    if fresh and cached is not None:
        return cached[1], pending
    # the generation before the read: if the file was not open (None), the read opens it and
    # another process may have written just before; the next step reads again and keeps that
    generation = ctx.store.generation()
    with ctx.store.connect(read_only=True) as con:
        gate = steps.run_gate(
            con,
            tenant=state["tenant"],
            runbook=runbook.runbook,
            sha256=sha256,
            run_id=state["run_id"],
            root_run_id=state["root_run_id"],
        )
    if generation is not None:
        ctx.memo[key] = (generation, gate)
    return gate, pending


def _stop(
    ctx: RunContext,
    state: RunState,
    current: Any,
    status: RunStatus,
    reason: str,
    pending: list[dict[str, Any]] | None = None,
) -> StateUpdate:
    """Stop this run before `current`; a child run it started (waiting for approval, or cut
    short by a crash) stops with it, so no run of the tree is left waiting or running."""
    pending = ledger_of(state) if pending is None else pending
    if isinstance(current, WorkflowStep):
        child_id = child_run_id(state["run_id"], current.id)
        with ctx.store.connect() as con:
            ledger.flush(con, pending)
            pending = []
            below = runs.stop_subtree(con, child_id, status, f"an enclosing run stopped: {reason}")
            for run_id in below:
                record(
                    con,
                    {"run_id": run_id, "root_run_id": state["root_run_id"], "tenant": state["tenant"]},
                    f"status:{status}",
                    payload={"reason": reason, "stopped_by": state["run_id"]},
                )
            if below:
                steps.fail_step(
                    con,
                    state["run_id"],
                    current.id,
                    error=f"stopped: {reason}",
                    duration_s=0.0,
                    status=status,
                )
    return set_status(ctx, state, status, reason, pending)


def _produced_here(state: RunState, pending: list[dict[str, Any]]) -> dict[str, str | None]:
    """Outputs of this run's steps whose records are still pending, by step id, as the JSON
    text the store would hold (masked): decode with :func:`_decoded`."""
    return {
        r["step_id"]: r["output_json"] for r in pending if r["t"] == "step" and r["run_id"] == state["run_id"]
    }


def _decoded(text: str | None) -> Any:
    return json.loads(text) if text else None


def _inputs(
    ctx: RunContext,
    state: RunState,
    runbook: RunbookDefinition,
    current: AnalyserStep,
    pending: list[dict[str, Any]],
) -> dict[str, Any]:
    """A runbook input is the run's document; several documents are handed over as one set
    (``warden.documents.sets.combine``), read as one notice whose passages name their document."""
    from warden.documents.sets import combine

    out: dict[str, Any] = {}
    here = _produced_here(state, pending)
    if not current.input:
        return out
    with ctx.store.connect(read_only=True) as con:
        for name in current.input:
            if name in here:  # a step whose records are not flushed yet
                out[name] = _decoded(here[name])
            elif name in runbook.inputs:
                # a stored document never changes (its id is its content's hash): read, parse
                # and combine once per invocation, not for every step; each step gets its own dict
                key = ("documents", tuple(state.get("document_ids") or []))
                document = ctx.memo.get(key)
                if document is None:
                    stored = [documents.get_document(con, d, state["root_run_id"]) for d in key[1]]
                    found = [d for d in stored if d is not None]
                    document = combine(found) if found and len(found) == len(stored) else None
                    if document is not None:
                        ctx.memo[key] = document
                out[name] = document.model_dump(mode="json") if document else None
            else:
                produced = steps.get_step(con, state["run_id"], name)
                out[name] = produced["output"] if produced else None
    return out


def _would_pass_cost_cap(estimate: float, left: float | None) -> bool:
    """Whether a step estimated at `estimate` USD would pass the tree's cost cap with `left` USD
    left under it (None: uncapped): the gate asks before a step, and again before each retry
    (an attempt may have spent)."""
    return left is not None and estimate > left


def _context(
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
        ctx.memo[(_UNKEYED, state["run_id"])] = True  # not re-run by a batch: see replayable
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


def _run_analyser(
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
    inputs = _inputs(ctx, state, runbook, current, pending)
    analyser_ctx = _context(state, ctx, current.id, current.system, limits, runbook.model)
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
        if _would_pass_cost_cap(estimate, left):
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


def _child_runbook(
    ctx: RunContext, state: RunState, current: WorkflowStep, pending: list[dict[str, Any]]
) -> Any:
    if not isinstance(current.execute_workflow, str):
        return current.execute_workflow.model_dump(mode="json")
    ref = parse_reference(current.execute_workflow)
    assert ref is not None and ref.kind == "step"  # the guard refused anything else
    here = _produced_here(state, pending)
    if ref.name in here:  # the planner step's records are not flushed yet
        return _decoded(here[ref.name])
    with ctx.store.connect(read_only=True) as con:
        produced = steps.get_step(con, state["run_id"], ref.name)
    return produced["output"] if produced else None


def _run_child(
    state: RunState,
    ctx: RunContext,
    runbook: RunbookDefinition,
    current: WorkflowStep,
    limits: Limits,
    cursor: int,
    started_before: bool,
    pending: list[dict[str, Any]],
    attempts_before: int,
) -> StateUpdate | ChildRequest:
    if pending and started_before:  # the child may wait for approval: nothing may wait unwritten
        with ctx.store.connect() as con:
            ledger.flush(con, pending)
    child_id = child_run_id(state["run_id"], current.id)
    draft = _child_runbook(ctx, state, current, pending)
    problem = plain_data_problem(draft)
    if problem is not None:
        # the draft would enter the child's checkpoint, which cannot hold it (e.g. an integer
        # past 64 bits): refuse it here, as the guard would a file, instead of crashing there
        path, message, code = problem
        where = path or "the runbook"
        reason = f"step '{current.id}': the generated runbook cannot be run ({code}): {where}: {message}"
        with ctx.store.connect() as con:
            ledger.flush(con, pending)
            steps.start_step(con, state["run_id"], current.id, kind="workflow", analyser=None, system_id=None)
            steps.fail_step(con, state["run_id"], current.id, error=reason, duration_s=0.0)
        return set_status(ctx, state, "failed", reason, [])
    if not started_before:
        with ctx.store.connect() as con:
            # the step's first row (linked to its child) and the child's event ride in one flush
            # with the run's pending records (chained after them): one INSERT per table
            first = ledger.step_record(
                run_id=state["run_id"],
                step_id=current.id,
                kind="workflow",
                analyser=None,
                system_id=None,
                status="running",
                attempts=attempts_before + 1,
                started_at=ledger.stamp(),
                finished_at=None,
                duration_s=None,
                child_run_id=child_id,
            )
            started = event(state, "child_started", payload={"step": current.id, "child_run_id": child_id})
            stored = ledger.flush(con, [*pending, first, started])
            runs.create_run(
                con,
                runs.RunRow(
                    run_id=child_id,
                    root_run_id=state["root_run_id"],
                    parent_run_id=state["run_id"],
                    parent_step_id=current.id,
                    depth=state.get("depth", 0) + 1,
                    thread_id=state["root_run_id"],
                    checkpoint_ns=f"{state['run_id']}/{current.id}",
                    tenant=state["tenant"],
                    requester=state["requester"],
                    policy_sha256=ctx.policy.sha256,  # the tree's bound policy governs its decisions
                ),
                # the step's first row: the child's run row, only ever written with it, is new too
                new=(state["run_id"], current.id) not in stored,
            )
    child_state: RunState = {
        "run_id": child_id,
        "root_run_id": state["root_run_id"],
        "parent_run_id": state["run_id"],
        "parent_step_id": current.id,
        "depth": state.get("depth", 0) + 1,
        "tenant": state["tenant"],
        "requester": state["requester"],
        "document_ids": state.get("document_ids", []),
        "runbook": draft,
        "parent_limits": tighter(limits, current.limits).model_dump(mode="json"),
        "status": "running",
    }
    return ChildRequest(current.id, child_id, child_state, time.time())


def child_ended(
    state: RunState, ctx: RunContext, request: ChildRequest, final: dict[str, Any]
) -> StateUpdate:
    """Record how the child run of a step ended (its final state), and move the parent on."""
    child_id, step_id = request.child_run_id, request.step_id
    cursor = state.get("cursor", 0)
    took = max(time.time() - request.started_at, 0.0)
    child_status = final.get("status") or "failed"
    with ctx.store.connect() as con:
        if child_status in ("completed", "rejected"):
            steps.finish_step(
                con,
                state["run_id"],
                step_id,
                output={"child_run_id": child_id, "status": child_status},
                output_schema="findings",
                duration_s=took,
                child_run_id=child_id,
            )
            if child_status == "rejected":
                steps.mark_rejected(con, state["run_id"], step_id)
        else:
            steps.fail_step(
                con,
                state["run_id"],
                step_id,
                error=f"child run {child_id}: {child_status}",
                duration_s=took,
                status=child_status,
            )
    if child_status in ("completed", "rejected"):
        return {"cursor": cursor + 1, "ledger": []}
    status: RunStatus = child_status if child_status in CAP_STATUSES else "failed"
    return set_status(
        ctx, state, status, f"child run {child_id} ended {child_status}: {final.get('reason')}", []
    )
