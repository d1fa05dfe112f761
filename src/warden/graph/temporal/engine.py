"""The Temporal engine, client side: what the service calls when $WARDEN_ENGINE=temporal.

A run tree is a workflow whose id is the root run's id (Temporal refuses a second start of
it); its nodes run on `warden worker` processes. The service's calls are synchronous, so the
client lives on an event loop in a daemon thread of this process.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from warden.errors import WardenError
from warden.graph.context import RunContext
from warden.graph.engine import Outcome, PendingApproval
from warden.graph.nodes._common import record
from warden.graph.state import RunState
from warden.graph.temporal.settings import TemporalSettings
from warden.graph.temporal.signing import sign
from warden.graph.temporal.workflow import WORKFLOW
from warden.store import keys, runs

__all__ = ["EngineUnavailable", "TemporalEngine"]

T = TypeVar("T")
QUERY_WAIT_S = 60.0
"""How long finding a run's pending approval waits for Temporal to answer (a worker that just
restarted polls within seconds) before it reports `engine_unavailable`."""
TRANSIENT = (RPCStatusCode.FAILED_PRECONDITION, RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED)
"""Query failures that pass: no worker polled the task queue lately, the server is away."""
POLL_S = (0.05, 0.5)
"""How often a caller asks whether its tree settled: from 50 ms, slowing by half each time to 0.5 s
(every poll is a describe and a query or two, on the Temporal server and in this process)."""


class EngineUnavailable(WardenError):
    def __init__(self, message: str) -> None:
        super().__init__(
            message,
            fix="start the Temporal server and workers (`warden cluster up`), or check "
            "WARDEN_TEMPORAL_ADDRESS / WARDEN_TEMPORAL_NAMESPACE",
            code="engine_unavailable",
        )


class TemporalEngine:
    name = "temporal"
    in_process = False
    recovers_itself = True

    def __init__(self, settings: TemporalSettings) -> None:
        self.settings = settings
        self.wait_s = settings.wait_s
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: Client | None = None

    # --- the event loop and the client -------------------------------------------------------

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="warden-temporal", daemon=True).start()
                self._loop = loop
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    async def _connected(self) -> Client:
        if self._client is None:
            try:
                self._client = await asyncio.wait_for(
                    Client.connect(self.settings.address, namespace=self.settings.namespace), 10
                )
            except (RPCError, RuntimeError, OSError, TimeoutError) as exc:
                raise EngineUnavailable(
                    f"no Temporal server answers at {self.settings.address} "
                    f"(namespace {self.settings.namespace}): {exc}"
                ) from None
        return self._client

    async def _handle(self, workflow_id: str) -> WorkflowHandle[Any, Any]:
        return (await self._connected()).get_workflow_handle(workflow_id)

    def open(self) -> None:
        self._call(self._connected())

    def check(self) -> dict[str, Any]:
        """For `warden doctor`: does the server answer, and do workers poll the task queue."""

        async def probe() -> dict[str, Any]:
            client = await self._connected()
            from temporalio.api.enums.v1 import TaskQueueType
            from temporalio.api.taskqueue.v1 import TaskQueue
            from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

            pollers = {}
            for kind, value in (
                ("workflow", TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW),
                ("activity", TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY),
            ):
                answer = await client.workflow_service.describe_task_queue(
                    DescribeTaskQueueRequest(
                        namespace=self.settings.namespace,
                        task_queue=TaskQueue(name=self.settings.task_queue),
                        task_queue_type=value,
                    )
                )
                pollers[kind] = len(answer.pollers)
            return {
                "address": self.settings.address,
                "namespace": self.settings.namespace,
                "task_queue": self.settings.task_queue,
                "pollers": pollers,
            }

        return self._call(probe())

    # --- the engine seam ---------------------------------------------------------------------

    def start(self, ctx: RunContext, root_run_id: str, state: RunState) -> Outcome:
        self._call(self._start(root_run_id, state, duplicate_ok=False))
        return self._call(self._settle(ctx, root_run_id))

    async def _start(self, root_run_id: str, state: RunState, *, duplicate_ok: bool) -> None:
        client = await self._connected()
        try:
            await client.start_workflow(
                WORKFLOW,
                {"state": dict(state), "heartbeat_s": self.settings.heartbeat_s},
                id=root_run_id,
                task_queue=self.settings.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                static_summary=f"warden run {root_run_id} · tenant {state.get('tenant')}",
            )
        except WorkflowAlreadyStartedError:
            if not duplicate_ok:
                raise WardenError(
                    f"run '{root_run_id}' was started already (Temporal refused a second start)",
                    fix=f"see `warden tree {root_run_id}`",
                    code="duplicate_run",
                ) from None

    def approval(self, root_run_id: str, run_id: str) -> PendingApproval | None:
        progress = self._call(self._progress(run_id, strict=True))
        if progress is None or progress.get("phase") != "waiting":
            return None
        return PendingApproval(progress["approval_id"], progress["payload"])

    async def _progress(self, workflow_id: str, *, strict: bool = False) -> dict[str, Any] | None:
        """The workflow's `progress` query (a worker answers it); None when there is no such
        workflow, or when nobody answers. `strict`: a server or worker that does not answer
        (a worker restarting, the server down) is waited for up to `QUERY_WAIT_S`, then a
        coded error."""
        deadline, pause = time.monotonic() + QUERY_WAIT_S, 0.25
        while True:
            try:
                handle = await self._handle(workflow_id)
                found: dict[str, Any] = await handle.query("progress")
                return found
            except RPCError as exc:
                if not strict or exc.status == RPCStatusCode.NOT_FOUND:
                    return None
                if exc.status not in TRANSIENT or time.monotonic() > deadline:
                    raise EngineUnavailable(
                        f"Temporal did not answer for run '{workflow_id}' at {self.settings.address} "
                        f"({exc.status.name}: {exc.message})"
                    ) from None
            await asyncio.sleep(pause)
            pause = min(pause * 2, 2.0)

    def deliver(
        self, ctx: RunContext, root_run_id: str, run_id: str, approval_id: str, decision: dict[str, Any]
    ) -> Outcome:
        request: dict[str, Any] = {
            "decision": decision,
            "policy_sha256": ctx.policy.sha256,
            "approval_id": approval_id,
        }
        with ctx.store.connect() as con:  # the worker takes only what a service checked
            request["signature"] = sign(keys.decision_key(con), request)
        refused = self._call(self._deliver(ctx, run_id, request))
        if refused is not None:
            return refused
        return self._call(self._settle(ctx, root_run_id))

    async def _deliver(self, ctx: RunContext, run_id: str, request: dict[str, Any]) -> Outcome | None:
        handle = await self._handle(run_id)
        decision = request["decision"]
        try:
            await handle.execute_update("decide", request)
        except WorkflowUpdateFailedError as exc:
            reason = str(getattr(exc.cause, "message", None) or exc.cause)
            return self._refused(ctx, run_id, decision, reason)
        except RPCError as exc:  # no server, or no such workflow: the run is not left claimed
            reason = f"the Temporal server did not take the decision ({exc.status.name}: {exc.message})"
            return self._refused(ctx, run_id, decision, reason)
        return None

    def _refused(self, ctx: RunContext, run_id: str, decision: dict[str, Any], reason: str) -> Outcome:
        """The workflow refused the decision, or Temporal could not take it: the run waits again
        (the claim is undone), audited; the caller is told why and may decide again."""
        with ctx.store.connect() as con:
            row = runs.get_run(con, run_id)
            assert row is not None
            if row["status"] == "running":
                runs.set_status(
                    con, run_id, "waiting_approval", "waiting for a human decision", claimed_by=None
                )
            record(
                con,
                {"run_id": run_id, "root_run_id": row["root_run_id"], "tenant": row["tenant"]},
                "approval_refused",
                actor=str(decision.get("approver") or "unknown"),
                payload={"reason": reason, "refused_by": "temporal update validator"},
                key=f"{run_id}:approval_refused:temporal:{time.time_ns()}",
            )
            root = runs.get_run(con, row["root_run_id"])
        assert root is not None
        return Outcome(row["root_run_id"], root["status"], [{"run_id": run_id}], root["status_reason"])

    def resume(self, ctx: RunContext, root_run_id: str, start: Any) -> Outcome:
        """Durable execution resumes by itself; a tree whose workflow never started (the caller
        died between recording and starting it) is started now from its recorded request."""
        self._call(self._start(root_run_id, start, duplicate_ok=True))
        return self._call(self._settle(ctx, root_run_id))

    def stop(self, root_run_ids: Sequence[str]) -> None:
        async def cancel_all() -> None:
            for root in root_run_ids:
                try:
                    await (await self._handle(root)).cancel()
                except RPCError:  # gone, or closed already
                    continue

        self._call(cancel_all())

    # --- waiting for the tree ----------------------------------------------------------------

    async def _settled(self, root_run_id: str) -> bool:
        handle = await self._handle(root_run_id)
        try:
            described = await handle.describe()
        except RPCError:
            return False
        if described.status != WorkflowExecutionStatus.RUNNING:
            return True
        workflow_id: str | None = root_run_id
        while workflow_id is not None:
            progress = await self._progress(workflow_id)
            if progress is None:
                return False
            if progress["phase"] == "waiting":
                return True
            workflow_id = progress["child"] if progress["phase"] == "child" else None
        return False

    async def _settle(self, ctx: RunContext, root_run_id: str) -> Outcome:
        """Wait (up to `wait_s`) until the tree finishes or waits for a decision; report it."""
        deadline, pause = time.monotonic() + self.wait_s, POLL_S[0]
        while not await self._settled(root_run_id) and time.monotonic() < deadline:
            await asyncio.sleep(pause)
            pause = min(pause * 1.5, POLL_S[1])
        with ctx.store.connect(read_only=True) as con:
            members = runs.tree(con, root_run_id)
        waiting = []
        for member in members:
            if member["status"] == "waiting_approval":
                progress = await self._progress(member["run_id"])
                if progress and progress.get("payload"):
                    waiting.append(progress["payload"])
        root = next((m for m in members if m["run_id"] == root_run_id), None)
        return Outcome(
            root_run_id=root_run_id,
            status=root["status"] if root else "failed",
            waiting=waiting,
            reason=root["status_reason"] if root else "the run is missing from the store",
        )
