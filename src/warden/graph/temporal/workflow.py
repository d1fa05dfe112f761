"""The run-tree workflow: the graph's edges (ingest -> plan -> guard -> approval -> step* ->
finish) written out, each node an activity running the same node function as the embedded graph.

Determinism: this module does no I/O and keeps only references and small data in its state
(run ids, document ids, the runbook, the guard report, the cursor); documents and step outputs
stay in the store. An ``execute_workflow`` step is a child workflow whose id is the child run's
id. The approval waits for the ``decide`` update, whose validator checks the decision against
the principal and the run's bound policy (the gate the ``approval_open`` activity computed from
it) before Temporal accepts it; a second decision is refused by the workflow itself.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError, ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from warden.governance.approval_rules import gate_error

__all__ = ["WORKFLOW", "RunWorkflow"]

WORKFLOW = "warden-run"
NODE_TIMEOUT = timedelta(minutes=5)
"""A node other than an analyser step: reads and writes the store (which may be busy ~60 s)."""
SKIP_READ_INGEST = "skip-ingest-when-documents-read"
"""The patch (``workflow.patched``) under which a tree whose documents the service read and
stored with the request (every Temporal root but one carrying a ``document_error``, every child)
schedules no ingest activity: the node would return nothing. Histories recorded before it
have the activity, and replay it."""
SIGNED_DECISIONS = "signed-decisions"
"""The patch under which ``approval_take`` is given the decision's signature, which the worker
verifies (graph/temporal/signing.py). Histories recorded before it took the decision unsigned."""
NODE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=10), maximum_attempts=5
)
"""Retries for a lost worker or a busy store; the runbook's own retry policy runs inside the
step activity (see docs/SCALE.md), so a lost worker never uses up a step's attempts."""


def _reads_documents(state: dict[str, Any]) -> bool:
    """:func:`warden.graph.nodes.ingest.reads_documents` (the tree has documents to read: no ids
    yet, paths given), written out: importing that module through the sandbox rebinds the
    package's ``nodes.ingest``, the node function the worker's activity calls, to the module.
    A test holds the two equal."""
    return not state.get("document_ids") and bool(state.get("document_paths"))


def _running(state: dict[str, Any]) -> bool:
    return (state.get("status") or "running") == "running"


def _current_step(state: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The id and runbook entry of the step at the cursor."""
    step_id = str((state.get("order") or [])[state.get("cursor", 0)])
    step: dict[str, Any] = next(
        (s for s in (state.get("runbook") or {}).get("steps", []) if s.get("id") == step_id), {}
    )
    return step_id, step


def _step_timeout(state: dict[str, Any]) -> timedelta:
    """The step's own timeout and retry policy from the runbook, as one activity deadline."""
    limits = state.get("limits") or {}
    _, step = _current_step(state)
    timeout = float(step.get("timeout_s") or limits.get("step_timeout_s") or 300)
    retry = step.get("retry") or {}
    attempts = int(retry.get("max_attempts") or 1)
    backoff, total = float(retry.get("backoff_s") or 0), 0.0
    for _ in range(attempts - 1):
        total += backoff
        backoff *= float(retry.get("backoff_multiplier") or 2)
    cap = limits.get("max_duration_s")
    budget = timeout * attempts + total
    if cap is not None:
        budget = min(budget, float(cap))
    return timedelta(seconds=min(budget, 7 * 86400) + 60)


def _step_summary(state: dict[str, Any]) -> str:
    """What the Web UI shows for a step activity: the step and its analyser (or child runbook)."""
    step_id, step = _current_step(state)
    if step.get("analyser"):
        return f"{step_id} · analyser {step['analyser']}"
    child = step.get("execute_workflow")
    name = child.get("runbook") if isinstance(child, dict) else child
    return f"{step_id} · child runbook {name}" if name else str(step_id)


@workflow.defn(name=WORKFLOW)
class RunWorkflow:
    def __init__(self) -> None:
        self._phase = "starting"
        self._child: str | None = None
        self._pending: dict[str, Any] | None = None
        self._gate: dict[str, Any] | None = None
        self._decision: dict[str, Any] | None = None
        self._signed: dict[str, Any] = {}
        """The decision's approval id, policy hash and service signature (graph/temporal/signing.py)."""
        self._attempt = 0
        self._heartbeat = timedelta(seconds=10)
        self._run_id = ""

    @workflow.run
    async def run(self, request: dict[str, Any]) -> dict[str, Any]:
        state: dict[str, Any] = dict(request["state"])
        self._run_id = state["run_id"]
        self._heartbeat = timedelta(seconds=float(request.get("heartbeat_s") or 10))
        try:
            state = await self._tree(state)
        except asyncio.CancelledError:
            # cancelled (withdrawn, or the tenant's kill switch): say so in the store, then end
            self._phase = "stopped"
            await self._node("stop", {"run_id": self._run_id}, "record the cancellation")
            raise
        except (ActivityError, ChildWorkflowError) as exc:
            if isinstance(exc.cause, CancelledError):  # cancelled while an activity or child ran
                self._phase = "stopped"
                await self._node("stop", {"run_id": self._run_id}, "record the cancellation")
                raise
            # a node failed past its retries (a bug, or a store that stayed unusable)
            self._phase = "failed"
            await self._node(
                "fail", {"run_id": self._run_id, "error": str(exc.cause or exc)}, "record the failure"
            )
            return {"status": "failed", "reason": str(exc.cause or exc)}
        self._phase = "done"
        return {"status": state.get("status"), "reason": state.get("reason")}

    async def _node(
        self, name: str, arg: dict[str, Any], summary: str, timeout: timedelta = NODE_TIMEOUT
    ) -> Any:
        return await workflow.execute_activity(
            f"warden.{name}",
            arg,
            start_to_close_timeout=timeout,
            heartbeat_timeout=self._heartbeat,
            retry_policy=NODE_RETRY,
            summary=f"{summary} · run {self._run_id}",  # the UI shows the type before it
        )

    async def _apply(self, name: str, state: dict[str, Any], summary: str) -> dict[str, Any]:
        update = await self._node(name, {"state": state}, summary)
        return {**state, **update}

    async def _tree(self, state: dict[str, Any]) -> dict[str, Any]:
        self._phase = "running"
        # decided from the workflow's input only (deterministic); the patch's marker is recorded
        # only in histories that skip, so one that runs ingest reads as before the patch
        if _reads_documents(state) or not workflow.patched(SKIP_READ_INGEST):
            state = await self._apply("ingest", state, "read the documents")
        if _running(state):
            state = await self._apply("plan", state, "record the runbook")
            state = await self._apply("guard", state, "check the runbook against the policy")
        if _running(state):
            state = await self._approval(state)
        while _running(state) and state.get("cursor", 0) < len(state.get("order") or []):
            state = await self._step(state)
        return await self._apply("finish", state, "record the outcome")

    async def _approval(self, state: dict[str, Any]) -> dict[str, Any]:
        opened = await self._node("approval_open", {"state": state}, "ask for approval")
        if opened["update"] is not None:  # a policy rule approved it
            return {**state, **opened["update"]}
        self._pending, self._gate = opened["payload"], opened["gate"]
        due: str | None = opened.get("due_at")  # absent in histories from before the SLA timer
        while True:
            self._attempt += 1
            self._phase = "waiting"
            due = await self._await_decision(due)
            self._phase = "running"
            decision, self._decision = self._decision, None
            take = {"state": state, "payload": self._pending, "decision": decision, "attempt": self._attempt}
            if workflow.patched(SIGNED_DECISIONS):
                take["signed"] = self._signed
            taken = await self._node("approval_take", take, f"decision by {(decision or {}).get('approver')}")
            if taken["update"] is not None:
                self._pending = self._gate = None
                return {**state, **taken["update"]}

    async def _await_decision(self, due: str | None) -> str | None:
        """Wait for the ``decide`` update; with an SLA, a durable timer to its due time runs the
        escalation when it fires first (it survives worker and server restarts: it is in the
        history), then the wait goes on. Returns the due time still to wait for (None once
        escalated). The policy has one escalation level, so after it the wait has no timer."""
        again = 0.0  # after a "not due yet" (a worker's clock behind Temporal's): not at once
        while due is not None:
            left = max((datetime.fromisoformat(due) - workflow.now()).total_seconds(), again)
            if left > 0:
                try:
                    await workflow.wait_condition(
                        lambda: self._decision is not None,
                        timeout=left,
                        timeout_summary=f"approval SLA due {due}",
                    )
                    return due
                except TimeoutError:
                    pass
            out = await self._node("approval_escalate", {"run_id": self._run_id}, "SLA passed, escalate")
            due, again = out["due_at"], 1.0  # None once escalated; still set if not due yet
        await workflow.wait_condition(lambda: self._decision is not None)
        return None

    async def _step(self, state: dict[str, Any]) -> dict[str, Any]:
        step_id = (state.get("order") or [])[state.get("cursor", 0)]
        out = await self._node("step", {"state": state}, _step_summary(state), timeout=_step_timeout(state))
        if "child" not in out:
            return {**state, **out}
        child = out["child"]
        self._phase, self._child = "child", child["child_run_id"]
        final = await workflow.execute_child_workflow(
            WORKFLOW,
            {"state": child["state"], "heartbeat_s": self._heartbeat.total_seconds()},
            id=child["child_run_id"],
            static_summary=f"child run {child['child_run_id']} of step {step_id}",
        )
        self._phase, self._child = "running", None
        update = await self._node(
            "child_ended",
            {"state": state, "request": child, "final": final},
            f"child of step {step_id} ended",
        )
        return {**state, **update}

    @workflow.query
    def progress(self) -> dict[str, Any]:
        """Where the tree stands: running, waiting (for a decision), child (waiting on one), done."""
        return {
            "phase": self._phase,
            "child": self._child,
            "approval_id": f"{self._run_id}#{self._attempt}" if self._phase == "waiting" else None,
            "payload": self._pending if self._phase == "waiting" else None,
        }

    @workflow.update
    async def decide(self, request: dict[str, Any]) -> dict[str, Any]:
        # updates run one by one, but two may be validated before either runs: refuse the second
        if self._phase != "waiting" or self._decision is not None:
            raise ApplicationError("the run was decided already", type="already_decided", non_retryable=True)
        self._decision = request["decision"]
        self._signed = {name: request.get(name) for name in ("approval_id", "policy_sha256", "signature")}
        self._phase = "running"  # a caller waiting for the tree must not see it waiting still
        return {"accepted": True}

    @decide.validator
    def _check(self, request: dict[str, Any]) -> None:
        """Refused decisions never enter the history: not waiting, already decided, another
        approval, a policy other than the bound one, or a principal the gate does not admit."""
        if self._phase != "waiting" or self._decision is not None or self._gate is None:
            raise ValueError("the run is not waiting for a decision (decided already)")
        if request.get("approval_id") != f"{self._run_id}#{self._attempt}":
            raise ValueError("the decision is for another approval of this run")
        if request.get("policy_sha256") != self._gate["policy_sha256"]:
            raise ValueError("the decision was checked under a policy the run is not bound to")
        decision = request.get("decision") or {}
        error = gate_error(
            self._gate,
            approver=str(decision.get("approver")),
            role=str(decision.get("role")),
            auth=str(decision.get("auth") or "asserted"),
            runbook_sha256=str(decision.get("runbook_sha256")),
        )
        if error is not None:
            raise ValueError(error)
