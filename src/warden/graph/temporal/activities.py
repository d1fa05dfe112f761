"""The graph's nodes as Temporal activities: the same node functions, the same store writes.

Each activity builds the node's :class:`RunContext` with the factory the worker was given (the
service's: the run's bound policy, the live kill switch), holds the store for the node's units
of work, and heartbeats while the node runs, so a worker that dies is noticed within the
heartbeat timeout and the activity runs again on another worker. Nodes are idempotent by
construction (the embedded engine re-runs them after a crash too): a step already completed in
the store is not run again, findings and audit events have stable keys.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import nullcontext
from datetime import UTC
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from warden.governance.approval_rules import approval_gate
from warden.graph import nodes
from warden.graph.context import RunContext
from warden.graph.engine import fail_tree, mark_waiting
from warden.graph.nodes._common import record
from warden.graph.nodes.approval import approval_role, open_approval, take_decision
from warden.graph.nodes.ingest import reads_documents
from warden.graph.nodes.step import ChildRequest, advance, child_ended
from warden.graph.state import RunState
from warden.graph.temporal.signing import signature_problem
from warden.graph.temporal.workflow import WORKFLOW
from warden.schemas.runbook import RunbookDefinition
from warden.store import Store, approval_queue, approvals, keys, ledger, retrying_conflicts, runs

__all__ = ["NodeActivities"]

ContextFor = Callable[[str], RunContext]
"""run id -> the context its nodes run in (given by the worker's entry point)."""


class NodeActivities:
    """The activities of one worker process; `context_for` comes from the service layer."""

    def __init__(
        self, context_for: ContextFor, *, store: Store | None = None, heartbeat_every_s: float = 1.0
    ) -> None:
        self.context_for = context_for
        self.store = store
        """The store `context_for` reads: held from the start, so an activity opens the file once."""
        self.heartbeat_every_s = heartbeat_every_s
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="warden-node")

    def all(self) -> list[Callable[..., Any]]:
        return [
            self.ingest,
            self.plan,
            self.guard,
            self.approval_open,
            self.approval_escalate,
            self.approval_take,
            self.step,
            self.child_ended,
            self.finish,
            self.stop,
            self.fail,
        ]

    def _run(
        self,
        run_id: str,
        work: Callable[[RunContext], Any],
        state: RunState | None = None,
        *,
        ended_ok: bool = False,
    ) -> Any:
        """`work(ctx)` under a store hold, in a helper thread, heartbeating from this one (from the
        start: building the context reads the store, which may make it wait its turn).

        Only for the run's own workflow (:func:`_scheduled_by_run`), on a run the ledger has not
        ended and whose `state` agrees with it (:func:`_ledger_problem`); `ended_ok` for the
        nodes that only record an end (stop, fail) or are no-ops once ended (escalate)."""
        _scheduled_by_run(run_id)

        def held() -> Any:
            with self.store.hold() if self.store is not None else nullcontext():
                ctx = self.context_for(run_id)
                with ctx.store.hold():
                    problem = _ledger_problem(ctx, run_id, state, ended_ok=ended_ok)
                    if problem is not None:
                        raise ApplicationError(problem, type="run_state_refused", non_retryable=True)
                    return retrying_conflicts(lambda: work(ctx))

        future = self._pool.submit(held)
        while True:
            try:
                return future.result(timeout=self.heartbeat_every_s)
            except FutureTimeout:
                activity.heartbeat()

    def _node(self, fn: Callable[[RunState, RunContext], Any], arg: dict[str, Any]) -> Any:
        state: RunState = arg["state"]
        return self._run(state["run_id"], lambda ctx: written(ctx, fn(state, ctx)), state)

    @activity.defn(name="warden.ingest")
    def ingest(self, arg: dict[str, Any]) -> dict[str, Any]:
        """Only a `document_error` (the service could not read a document) fails the run here:
        on Temporal the service reads a run's documents itself, under the tenant's document roots,
        so a path to read in a workflow's input is no service's and is never read (the worker's
        host may hold any tenant's files)."""
        state: RunState = arg["state"]
        if reads_documents(state) and not state.get("document_error"):
            raise ApplicationError(
                f"ingest_paths_refused: run {state.get('run_id')!r} names documents to read; on "
                "Temporal the service reads them and the workflow carries their ids",
                type="ingest_paths_refused",
                non_retryable=True,
            )
        return dict(self._node(nodes.ingest, arg))

    @activity.defn(name="warden.plan")
    def plan(self, arg: dict[str, Any]) -> dict[str, Any]:
        return dict(self._node(nodes.plan, arg))

    @activity.defn(name="warden.guard")
    def guard(self, arg: dict[str, Any]) -> dict[str, Any]:
        return dict(self._node(nodes.guard, arg))

    @activity.defn(name="warden.finish")
    def finish(self, arg: dict[str, Any]) -> dict[str, Any]:
        return dict(self._node(nodes.finish, arg))

    @activity.defn(name="warden.approval_open")
    def approval_open(self, arg: dict[str, Any]) -> dict[str, Any]:
        """An auto-approval's update, or the payload to review, the gate a decision must pass
        (from the bound policy), the run marked waiting (as the embedded engine's settle) and
        the SLA due time of its queue row (ISO, UTC; None without an SLA) for the workflow's timer."""
        state: RunState = arg["state"]

        def work(ctx: RunContext) -> dict[str, Any]:
            _not_decided(ctx, state["run_id"])
            update, payload = open_approval(state, ctx)
            if update is not None:
                return {"update": written(ctx, update), "payload": None, "gate": None}
            runbook = RunbookDefinition.model_validate(state["runbook"])
            gate = approval_gate(
                ctx.policy,
                tenant=state["tenant"],
                requester=state["requester"],
                required_role=approval_role(state, runbook),  # a child's is its parent's
                draft_sha256=state.get("runbook_sha256") or "",
            )
            _mark_waiting(ctx, state, payload)
            return {"update": None, "payload": payload, "gate": gate, "due_at": _due_at(ctx, state["run_id"])}

        return dict(self._run(state["run_id"], work, state))

    @activity.defn(name="warden.approval_escalate")
    def approval_escalate(self, arg: dict[str, Any]) -> dict[str, Any]:
        """The SLA timer fired: escalate the run's approval with the service's own escalation
        (the server loop's: same row change, notice, audit event; once, whoever comes first).
        `due_at` is the time to wait for again (None once escalated, decided or without SLA)."""
        run_id = arg["run_id"]

        def work(ctx: RunContext) -> dict[str, Any]:
            if ctx.escalate is None:  # not failing the run: the server's SLA loop escalates it
                activity.logger.warning(
                    "escalation_unavailable: %s is overdue but this worker's context cannot escalate; "
                    "fix: run workers as `warden worker` (its service gives the context one)",
                    run_id,
                )
                return {"escalated": None, "due_at": None}
            return {"escalated": ctx.escalate(run_id), "due_at": _due_at(ctx, run_id)}

        return dict(self._run(run_id, work, ended_ok=True))

    @activity.defn(name="warden.approval_take")
    def approval_take(self, arg: dict[str, Any]) -> dict[str, Any]:
        """Apply an accepted decision (checked again by the node); refused, the run waits again."""
        state: RunState = arg["state"]

        def work(ctx: RunContext) -> dict[str, Any]:
            refused = _unsigned(ctx, arg)
            update, error = take_decision(
                state, ctx, arg["payload"], arg["decision"], int(arg["attempt"]), refused=refused
            )
            if update is None:
                _mark_waiting(ctx, state, arg["payload"])
            return {"update": written(ctx, update), "error": error}

        return dict(self._run(state["run_id"], work, state))

    @activity.defn(name="warden.step")
    def step(self, arg: dict[str, Any]) -> dict[str, Any]:
        """One step: an analyser run to the end (under the runbook's timeout and retry policy),
        or a child run recorded and handed back to start as a child workflow."""
        out = self._node(advance, arg)
        if isinstance(out, ChildRequest):
            return {"child": out.to_json()}
        return dict(out)

    @activity.defn(name="warden.child_ended")
    def child_ended(self, arg: dict[str, Any]) -> dict[str, Any]:
        state: RunState = arg["state"]
        request = ChildRequest.from_json(arg["request"])
        return dict(
            self._run(
                state["run_id"],
                lambda ctx: written(ctx, child_ended(state, ctx, request, arg["final"])),
                state,
            )
        )

    @activity.defn(name="warden.stop")
    def stop(self, arg: dict[str, Any]) -> list[str]:
        """A cancelled workflow: its run and those below stop `cancelled` (those the service
        already stopped keep their reason), with the tenant's kill switch as the reason if on."""
        run_id = arg["run_id"]

        def work(ctx: RunContext) -> list[str]:
            with ctx.store.connect(read_only=True) as con:
                row = runs.get_run(con, run_id)
            if row is None:
                return []
            switched = ctx.kill_switch_reason(row["tenant"])
            reason = f"kill switch: {switched}" if switched else "cancelled through the Temporal engine"
            with ctx.store.connect() as con:
                stopped = runs.stop_subtree(con, run_id, "cancelled", reason)
                for found in stopped:
                    record(
                        con,
                        {"run_id": found, "root_run_id": row["root_run_id"], "tenant": row["tenant"]},
                        "status:cancelled",
                        payload={"reason": reason, "stopped_by": "temporal"},
                    )
            return stopped

        return list(self._run(run_id, work, ended_ok=True))

    @activity.defn(name="warden.fail")
    def fail(self, arg: dict[str, Any]) -> None:
        """A node failed past its retries: the tree's running runs fail with the error."""
        run_id = arg["run_id"]

        def work(ctx: RunContext) -> None:
            with ctx.store.connect(read_only=True) as con:
                row = runs.get_run(con, run_id)
            if row is not None:
                fail_tree(ctx, row["root_run_id"], RuntimeError(str(arg.get("error"))[:500]))

        self._run(run_id, work, ended_ok=True)


def _scheduled_by_run(run_id: str) -> None:
    """Refuse an activity no Warden run workflow of `run_id` scheduled: any workflow of the
    namespace may schedule Warden's activities on its task queue, with any input. A run's
    workflow (root or child) has the run's id as its workflow id (engine.py, workflow.py)."""
    info = activity.info()
    if info.workflow_type != WORKFLOW or info.workflow_id != run_id:
        raise ApplicationError(
            f"not_run_workflow: {info.activity_type} for run {run_id!r} was scheduled by workflow "
            f"{info.workflow_id!r} of type {info.workflow_type!r}; Warden's activities run only for "
            f"the run's own {WORKFLOW!r} workflow (whose id is the run id)",
            type="not_run_workflow",
            non_retryable=True,
        )


_LEDGER_FIELDS = ("tenant", "requester", "root_run_id", "depth")
"""The state's copies of the run's ledger row, which a workflow's input may not change."""


def _ledger_problem(ctx: RunContext, run_id: str, state: RunState | None, *, ended_ok: bool) -> str | None:
    """Why a node may not work on the run (None: it may): the workflow's input is no service's
    word (anyone reaching the frontend may start a run's workflow again, once the run's own has
    closed), so the run's identity is the ledger's, and a run the ledger ended stays ended."""
    with ctx.store.connect(read_only=True) as con:
        row = runs.get_run(con, run_id)
    if row is None:
        return f"run_unknown: run {run_id!r} is not in the ledger"
    given: dict[str, Any] = dict(state or {})
    for field in _LEDGER_FIELDS if state is not None else ():
        if given.get(field) != row[field]:
            return f"run_state_mismatch: the workflow's {field} for run {run_id!r} is not the ledger's"
    status = row["status"]
    if status in runs.TERMINAL and not ended_ok and given.get("status") != status:
        return f"run_ended: run {run_id!r} is {status} in the ledger; no node works on it again"
    return None


def _not_decided(ctx: RunContext, run_id: str) -> None:
    """Refuse to ask again for a run a person decided already: a run's workflow opens its
    approval once, before any decision, so this is another start of the run's input (its own
    workflow terminated, its id used again), waiting to take a decision copied from history."""
    with ctx.store.connect(read_only=True) as con:
        decided = approvals.latest_decision(con, run_id)
    if decided is not None and decided["auto_rule"] is None:
        raise ApplicationError(
            f"approval_decided: run {run_id!r} was decided by {decided['approver']} already; "
            "its approval is not opened again",
            type="approval_decided",
            non_retryable=True,
        )


def written(ctx: RunContext, update: Any) -> Any:
    """A node's update with the ledger records it left pending written now (one transaction,
    idempotent by key), so workflow state never carries them: on Temporal the activity, not a
    checkpoint, is the unit of durability, and state carries references, not step outputs."""
    if isinstance(update, dict) and update.get("ledger"):
        with ctx.store.connect() as con:
            ledger.flush(con, update["ledger"])
        update = {**update, "ledger": []}
    return update


def _due_at(ctx: RunContext, run_id: str) -> str | None:
    """When the run's pending approval falls due (aware ISO UTC), if it has an SLA and is not
    escalated or decided yet: the one time the workflow's SLA timer waits for."""
    with ctx.store.connect(read_only=True) as con:
        row = approval_queue.get(con, run_id)
    if row is None or row["due_at"] is None or row["escalated_at"] or row["decided_at"]:
        return None
    return str(row["due_at"].replace(tzinfo=UTC).isoformat())


def _mark_waiting(ctx: RunContext, state: RunState, payload: dict[str, Any]) -> None:
    with ctx.store.connect() as con:
        mark_waiting(con, ctx.policy, state["root_run_id"], payload)


def _unsigned(ctx: RunContext, arg: dict[str, Any]) -> str | None:
    """Why the decision may not be taken as a Warden service's (None: its signature matches)."""
    signed = arg.get("signed")
    if not isinstance(signed, dict):
        return "the decision carries no Warden service's signature (sent to the workflow directly?)"
    with ctx.store.connect() as con:
        key = keys.decision_key(con)
    return signature_problem(key, {**signed, "decision": arg["decision"]})
