"""The engine seam, and the embedded engine: the graph runs in the calling process,
checkpointed to a SQLite file.

:class:`Engine` is what the service asks of an engine: start a tree, find a pending approval,
deliver a decision, resume, stop trees. Two implement it: :class:`EmbeddedEngine` (here; the
default) and ``warden.graph.temporal.engine.TemporalEngine`` (a tree is a Temporal workflow run
by ``warden worker`` processes). Both run the same nodes under the same guard and approvals.

The embedded engine compiles the graph once per checkpoint file and process, and drives one run
tree per call; what the nodes use comes in with each call as a :class:`RunContext`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from warden.errors import WardenError
from warden.governance.policy import LoadedPolicy
from warden.graph.context import RunContext
from warden.graph.recovery import INTERNAL_ERROR, fault_reason
from warden.graph.state import RunState
from warden.schemas.status import RunStatus
from warden.store import approval_queue, ledger, notifications, retrying_conflicts, runs
from warden.store._util import now
from warden.store.faults import StorageFault

__all__ = ["INTERNAL_ERROR", "EmbeddedEngine", "Engine", "Outcome", "PendingApproval", "notice_payload"]


@dataclass(frozen=True)
class Outcome:
    """Where a run tree stopped: its root, the root's status, and any approval now awaited."""

    root_run_id: str
    status: RunStatus
    waiting: list[dict[str, Any]]
    reason: str | None = None
    """Why the root stopped, when it failed or was refused (e.g. a document error's code)."""


@dataclass(frozen=True)
class PendingApproval:
    """A run's open approval: the engine's id for it and what the approver reviews."""

    id: str
    payload: dict[str, Any]


class Engine(Protocol):
    """What the service asks of an execution engine (tenancy and roles are checked above it)."""

    name: str
    in_process: bool
    """True when the graph's nodes run in the calling process (embedded): the caller may hold
    the store open across a call. False when they run elsewhere (Temporal workers): a caller
    that held the DuckDB file while waiting would lock out the very workers it waits for."""
    recovers_itself: bool
    """True when the engine resumes interrupted trees by itself (Temporal's durable execution);
    False when `warden resume` drives a tree on from its checkpoint (embedded)."""

    def open(self) -> None:
        """Check the engine can be used before a run is recorded (raise a coded error if not)."""

    def start(self, ctx: RunContext, root_run_id: str, state: RunState) -> Outcome:
        """Start a recorded tree; return once it finishes or waits for approval (or the engine's
        wait runs out: a remote engine then reports the tree as it stands)."""

    def approval(self, root_run_id: str, run_id: str) -> PendingApproval | None:
        """The approval `run_id` (a run of the tree) waits for, if any."""

    def deliver(
        self, ctx: RunContext, root_run_id: str, run_id: str, approval_id: str, decision: dict[str, Any]
    ) -> Outcome:
        """Hand a checked and claimed decision to the waiting run; return where the tree stopped."""

    def resume(self, ctx: RunContext, root_run_id: str, start: Any) -> Outcome:
        """Drive the tree on from `start` (engine-specific: a state, a resume, or None)."""

    def stop(self, root_run_ids: Sequence[str]) -> None:
        """Stop these trees now (the store already says why): running work ends before its next
        step. The embedded engine has nothing to stop between invocations."""


def config(root_run_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": root_run_id}, "recursion_limit": 10_000}


class EmbeddedEngine:
    """Compiled graphs over one checkpoint file; thread-safe to share within a process."""

    name = "embedded"
    in_process = True
    recovers_itself = False

    def __init__(self, checkpoint_path: Path) -> None:
        self.checkpoint_path = Path(checkpoint_path)
        self._lock = threading.Lock()
        self._root: Any = None
        self._child: Any = None

    def _graphs(self) -> tuple[Any, Any]:
        with self._lock:
            if self._root is None:
                from warden.graph.builder import build_graph
                from warden.store.checkpoints import open_checkpointer

                saver = open_checkpointer(self.checkpoint_path)
                self._child = build_graph().compile()
                self._root = build_graph().compile(checkpointer=saver)
            return self._root, self._child

    def pending(self, root_run_id: str) -> Any:
        """The tree's checkpointed state (``interrupts``, ``next``), as LangGraph reports it."""
        root, _ = self._graphs()
        return root.get_state(config(root_run_id))

    def open(self) -> None:
        """Open the checkpoint file now: a faulty one is refused before a run is recorded."""
        self._graphs()

    def start(self, ctx: RunContext, root_run_id: str, state: RunState) -> Outcome:
        return self.drive(ctx, root_run_id, state)

    def approval(self, root_run_id: str, run_id: str) -> PendingApproval | None:
        for interrupt in self.pending(root_run_id).interrupts:
            if isinstance(interrupt.value, dict) and interrupt.value.get("run_id") == run_id:
                return PendingApproval(interrupt.id, interrupt.value)
        return None

    def deliver(
        self, ctx: RunContext, root_run_id: str, run_id: str, approval_id: str, decision: dict[str, Any]
    ) -> Outcome:
        from langgraph.types import Command

        return self.drive(ctx, root_run_id, Command(resume={approval_id: decision}))

    def resume(self, ctx: RunContext, root_run_id: str, start: Any) -> Outcome:
        return self.drive(ctx, root_run_id, start)

    def stop(self, root_run_ids: Sequence[str]) -> None:
        return None

    def drive(self, ctx: RunContext, root_run_id: str, start: Any) -> Outcome:
        """Run the tree from `start` (a new state, a resume ``Command``, or None to continue)
        until it finishes or waits; mark what waits, and report where it stopped."""
        root, child = self._graphs()
        ctx.child_graph = child
        with _driving(ctx, root_run_id, lambda: checkpointed_ledger(root, root_run_id)):
            result = root.invoke(start, config(root_run_id), context=ctx, durability="sync")
            return settle(ctx, root_run_id, result)


def checkpointed_ledger(graph: Any, root_run_id: str) -> list[dict[str, Any]]:
    """The ledger records waiting in the tree's last checkpoints: the root's, then those of the
    nested runs in flight under its pending step (a child graph checkpoints in the root's
    thread, namespace ``step:<task id>[|step:<task id>...]``): what a flush would write
    (graph/ledger.py). Records already written are harmless: a flush is idempotent."""
    snapshot = graph.get_state(config(root_run_id))
    out: list[dict[str, Any]] = list((snapshot.values or {}).get("ledger") or [])
    in_flight = tuple(f"{task.name}:{task.id}" for task in snapshot.tasks or ())
    if not in_flight or graph.checkpointer is None:
        return out
    latest: dict[str, Any] = {}
    for item in graph.checkpointer.list({"configurable": {"thread_id": root_run_id}}):
        ns = item.config["configurable"].get("checkpoint_ns") or ""
        if ns and ns.startswith(in_flight) and ns not in latest:  # newest first
            latest[ns] = item.checkpoint
    for ns in sorted(latest, key=lambda n: n.count("|")):  # outer runs before inner ones
        out.extend(latest[ns].get("channel_values", {}).get("ledger") or [])
    return out


@contextmanager
def _driving(
    ctx: RunContext, root_run_id: str, pending: Callable[[], list[dict[str, Any]]] | None = None
) -> Iterator[None]:
    """Hold the store while the graph runs a tree.

    An exception out of the graph that is not a Warden error is a bug (or a value the store
    refused): the ledger records its checkpoints hold (`pending`) are written, so readers see
    every step done, and the tree's running runs are marked failed with it, rather than left
    'running' for good, and it propagates. The checkpoint is untouched, so `warden resume`
    retries once the cause is fixed. A killed process raises nothing: its runs stay
    'running', to resume (which writes the records first).
    """
    try:
        with ctx.store.hold():
            yield
    except StorageFault as exc:  # a full disk, a read-only directory: resumable once fixed
        if exc.resumable:
            fail_tree(ctx, root_run_id, exc, fault_reason(exc, root_run_id), pending)
        raise
    except WardenError:
        raise
    except Exception as exc:
        fail_tree(ctx, root_run_id, exc, pending=pending)
        raise


def fail_tree(
    ctx: RunContext,
    root_run_id: str,
    exc: Exception,
    reason: str | None = None,
    pending: Callable[[], list[dict[str, Any]]] | None = None,
) -> None:
    """Fail the tree's running runs with `reason` (default: an internal error's, naming `exc`),
    after writing the ledger records still pending in its checkpoints."""
    from warden.graph.nodes._common import record

    reason = reason or (
        f"{INTERNAL_ERROR} ({type(exc).__name__}: {str(exc)[:500]}); once the cause is fixed, "
        f"`warden resume {root_run_id}` retries from the last checkpoint"
    )
    if pending is not None:
        try:  # its own transaction: records that cannot be written stay in the checkpoint
            records = pending()
            if records:
                with ctx.store.connect() as con:
                    ledger.flush(con, records)
        except Exception:  # the store (or the checkpoint) may be what failed
            pass
    try:
        with ctx.store.connect() as con:
            for run in runs.tree(con, root_run_id):
                if run["status"] == "running":
                    runs.set_status(con, run["run_id"], "failed", reason, claimed_by=None)
                    record(
                        con,
                        {"run_id": run["run_id"], "root_run_id": root_run_id, "tenant": run["tenant"]},
                        "status:failed",
                        payload={"reason": reason, "error": type(exc).__name__},
                    )
    except Exception:  # the store may be what failed: the caller reports the first error
        pass


def settle(
    ctx: RunContext,
    root_run_id: str,
    result: dict[str, Any],
    *,
    check: Callable[[Any, list[dict[str, Any]]], None] | None = None,
) -> Outcome:
    """Mark every run with a pending approval as waiting (its approval-queue row and the
    notification of the people who may decide it in the same transaction), and report where
    the tree stopped. Idempotent: settling the same wait again adds nothing, so a transaction
    that loses a write race (another host delivering or escalating the same notice, a resume
    settling it too) runs again rather than failing the tree. `check(con, payloads)`, if
    given, runs first in that transaction (each time) and may refuse by raising."""

    waiting = [i.value for i in result.get("__interrupt__", []) if isinstance(i.value, dict)]
    if not waiting and check is None and result.get("status") == "completed":
        # the root's finish has just recorded exactly this (status, no reason) in this process:
        # nothing to mark, nothing to read back
        return Outcome(root_run_id=root_run_id, status="completed", waiting=[], reason=None)

    def mark() -> dict[str, Any] | None:
        with ctx.store.connect(read_only=not waiting) as con:  # nothing waits: only a read
            if check is not None and waiting:
                check(con, waiting)
            for payload in waiting:
                mark_waiting(con, ctx.policy, root_run_id, payload)
            return runs.get_run(con, root_run_id)

    root = retrying_conflicts(mark)
    return Outcome(
        root_run_id=root_run_id,
        status=root["status"] if root else "failed",
        waiting=waiting,
        reason=root["status_reason"] if root else "the run is missing from the store",
    )


def mark_waiting(con: Any, policy: LoadedPolicy, root_run_id: str, payload: dict[str, Any]) -> None:
    """One run waits for a decision on `payload` (an approval node's): its status, its
    approval-queue row and notification, its audit event; idempotent (every engine calls it)."""
    from warden.graph.nodes._common import record

    runs.set_status(
        con, payload["run_id"], "waiting_approval", "waiting for a human decision", claimed_by=None
    )
    _queue(con, policy, payload)
    record(
        con,
        {"run_id": payload["run_id"], "root_run_id": root_run_id, "tenant": payload["tenant"]},
        "approval_requested",
        payload={"required_role": payload["required_role"], "runbook_sha256": payload["runbook_sha256"]},
        key=f"{payload['run_id']}:approval_requested:{payload['runbook_sha256']}",
    )


def _queue(con: Any, policy: LoadedPolicy, payload: dict[str, Any]) -> None:
    """The pending approval's queue row, and an ``approval_waiting`` notice to its deciders."""
    from warden.governance.notifications import deciders, deliveries

    existing = approval_queue.get(con, payload["run_id"])
    requested_at = existing["requested_at"] if existing else now()
    tenant = policy.policy.tenants.get(payload["tenant"])
    sla_s = tenant.approval.sla_seconds if tenant else None
    report = payload.get("report") or {}
    issues = report.get("issues") or []
    row = approval_queue.QueueRow(
        run_id=payload["run_id"],
        root_run_id=payload["root_run_id"],
        tenant=payload["tenant"],
        required_role=payload["required_role"],
        requester=payload["requester"],
        requested_at=requested_at,
        runbook=payload["runbook"]["runbook"],
        runbook_sha256=payload["runbook_sha256"],
        policy_sha256=policy.sha256,
        cost_estimate_usd=float(payload.get("cost_estimate_usd") or 0.0),
        guard_ok=bool(report.get("ok", True)),
        guard_warnings=sum(1 for i in issues if i.get("severity") == "warning"),
        guard_errors=sum(1 for i in issues if i.get("severity", "error") == "error"),
        depth=int(payload.get("depth") or 0),
        document=approval_queue.first_document(con, payload["root_run_id"]),
        sla_s=sla_s,
        due_at=requested_at + timedelta(seconds=sla_s) if sla_s else None,
        escalate_to=tenant.approval.escalate_to if tenant else None,
    )
    approval_queue.open_pending(con, row)
    users = deciders(policy, row.tenant, row.required_role, row.requester)
    notifications.enqueue(
        con,
        deliveries(
            policy,
            tenant=row.tenant,
            event="approval_waiting",
            key=f"{row.run_id}:approval_waiting:{row.runbook_sha256}",
            users=users,
            run_id=row.run_id,
            root_run_id=row.root_run_id,
            payload=notice_payload(row),
        ),
    )


def notice_payload(row: approval_queue.QueueRow | dict[str, Any]) -> dict[str, Any]:
    """What a notification says about a pending approval (no draft, no document text)."""
    data = row if isinstance(row, dict) else asdict(row)
    return {
        "root_run_id": data["root_run_id"],
        "runbook": data["runbook"],
        "runbook_sha256": data["runbook_sha256"],
        "document": data["document"],
        "requester": data["requester"],
        "required_role": data["required_role"],
        "requested_at": _iso(data["requested_at"]),
        "due_at": _iso(data["due_at"]),
        "cost_estimate_usd": data["cost_estimate_usd"],
        "guard_ok": data["guard_ok"],
        "depth": data["depth"],
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") + "Z" if value is not None else None
