"""Start, review, approve, reject and resume runs: what the CLI (and tests) call.

The graph runs in whichever process starts or resumes it; state lives in the SQLite
checkpointer and the DuckDB store, so an analyst and an approver can be different processes
days apart.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from warden.errors import UsageError, WardenError
from warden.graph import recovery
from warden.graph.ids import new_run_id
from warden.graph.nodes._common import record
from warden.graph.runtime import Runtime
from warden.graph.state import RunState
from warden.llm_config import model_configuration
from warden.runbooks.load import read_runbook
from warden.schemas.approval import ApprovalDecision
from warden.store import runs
from warden.store.faults import StorageFault

__all__ = ["Outcome", "RunRefused", "decide", "pending_approval", "resume_run", "start_run"]

DEFAULT_RUNBOOK = "privacy-policy-review"
INTERNAL_ERROR = "internal error"
"""How the reason of a run failed by an exception out of the graph begins."""


class RunRefused(WardenError):
    """The decision or request may not be carried out (wrong role, already decided, ...)."""

    code = "refused"


@dataclass(frozen=True)
class Outcome:
    """Where a run tree stopped: its root, the root's status, and any approval now awaited."""

    root_run_id: str
    status: str
    waiting: list[dict[str, Any]]
    reason: str | None = None
    """Why the root stopped, when it failed or was refused (e.g. a document error's code)."""


def _config(root_run_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": root_run_id}, "recursion_limit": 10_000}


def builtin_runbook(name: str) -> Path:
    from importlib import resources

    return Path(str(resources.files("warden_runbooks"))) / f"{name}.yaml"


def start_run(
    rt: Runtime, path: str | Path, *, tenant: str, requester: str, runbook: str | Path | None = None
) -> Outcome:
    """Create a root run for one document and drive it until it finishes or waits for approval."""
    policy = rt.policy
    policy.tenant(tenant)
    if not policy.roles_of(tenant, requester):
        raise UsageError(
            f"'{requester}' is not a user of tenant '{tenant}'", fix="pass --as with a user of the tenant"
        )
    runbook_path = Path(runbook) if runbook else builtin_runbook(DEFAULT_RUNBOOK)
    parsed = read_runbook(runbook_path)
    rt.graph()  # open the checkpoint file first: a faulty one must not leave a run row behind
    run_id = new_run_id()
    with rt.store.connect() as con:
        runs.create_run(con, runs.RunRow(run_id, run_id, None, None, 0, run_id, "", tenant, requester))
        record(
            con,
            {"run_id": run_id, "root_run_id": run_id, "tenant": tenant},
            "run_requested",
            actor=requester,
            payload={
                "document": str(path),
                "runbook": str(runbook_path),
                "policy_sha256": policy.sha256,
                "llm_model": rt.llm_model,
                "llm_planner": rt.llm_settings.planner if rt.llm_settings else None,
                "model": model_configuration(
                    rt.llm_model, rt.llm_settings.base_url if rt.llm_settings else None
                ),
            },
        )
    state: RunState = {
        "run_id": run_id,
        "root_run_id": run_id,
        "parent_run_id": None,
        "parent_step_id": None,
        "depth": 0,
        "tenant": tenant,
        "requester": requester,
        "document_paths": [str(path)],
        "document_ids": [],
        "runbook": parsed.data,
        "status": "running",
    }
    with _driving(rt, run_id):
        result = rt.graph().invoke(state, _config(run_id), durability="sync")
        return _settle(rt, run_id, result)


@contextmanager
def _driving(rt: Runtime, root_run_id: str) -> Iterator[None]:
    """Hold the store while the graph runs a tree.

    An exception out of the graph that is not a Warden error is a bug (or a value the store
    refused): the tree's running runs are marked failed with it, rather than left 'running'
    for good, and it propagates. The checkpoint is untouched, so `warden resume` retries once
    the cause is fixed. A killed process raises nothing: its runs stay 'running', to resume.
    """
    try:
        with rt.store.hold():
            yield
    except StorageFault as exc:  # a full disk, a read-only directory: coded, resumable once fixed
        if exc.resumable:
            _fail_tree(rt, root_run_id, exc, recovery.fault_reason(exc, root_run_id))
        raise
    except WardenError:
        raise
    except Exception as exc:
        _fail_tree(rt, root_run_id, exc)
        raise


def _fail_tree(rt: Runtime, root_run_id: str, exc: Exception, reason: str | None = None) -> None:
    reason = reason or (
        f"{INTERNAL_ERROR} ({type(exc).__name__}: {str(exc)[:500]}); once the cause is fixed, "
        f"`warden resume {root_run_id}` retries from the last checkpoint"
    )
    try:
        with rt.store.connect() as con:
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


def _reopen_after_internal_error(rt: Runtime, root_run_id: str) -> None:
    """Runs failed by an internal error or a fixable storage fault go back to running before
    their tree is resumed."""
    with rt.store.connect() as con:
        for run in runs.tree(con, root_run_id):
            if run["status"] == "failed" and recovery.is_resumable_reason(run["status_reason"]):
                runs.set_status(
                    con, run["run_id"], "running", "resumed after an internal error", finished_at=None
                )


def _settle(rt: Runtime, root_run_id: str, result: dict[str, Any]) -> Outcome:
    """Mark every run with a pending approval as waiting, and report where the tree stopped."""
    waiting = [i.value for i in result.get("__interrupt__", []) if isinstance(i.value, dict)]
    with rt.store.connect() as con:
        for payload in waiting:
            runs.set_status(
                con, payload["run_id"], "waiting_approval", "waiting for a human decision", claimed_by=None
            )
            record(
                con,
                {"run_id": payload["run_id"], "root_run_id": root_run_id, "tenant": payload["tenant"]},
                "approval_requested",
                payload={
                    "required_role": payload["required_role"],
                    "runbook_sha256": payload["runbook_sha256"],
                },
                key=f"{payload['run_id']}:approval_requested:{payload['runbook_sha256']}",
            )
        root = runs.get_run(con, root_run_id)
    return Outcome(
        root_run_id=root_run_id,
        status=root["status"] if root else "failed",
        waiting=waiting,
        reason=root["status_reason"] if root else "the run is missing from the store",
    )


def pending_approval(rt: Runtime, run_id: str) -> tuple[dict[str, Any], str, dict[str, Any]]:
    """(run row, interrupt id, payload) of the approval a run is waiting for."""
    with rt.store.connect(read_only=True) as con:
        row = runs.get_run(con, run_id)
    if row is None:
        raise UsageError(f"no run '{run_id}'", fix="list runs with `warden runs`")
    if row["status"] != "waiting_approval":
        raise RunRefused(
            f"run '{run_id}' is {row['status']}, not waiting for approval",
            fix="see `warden runs --status waiting_approval`",
        )
    state = rt.graph().get_state(_config(row["root_run_id"]))
    for pending in state.interrupts:
        if isinstance(pending.value, dict) and pending.value.get("run_id") == run_id:
            return row, pending.id, pending.value
    with rt.store.connect(read_only=True) as con:
        now = runs.get_run(con, run_id)
    if now is not None and now["status"] != "waiting_approval":  # decided meanwhile by a racing approver
        raise RunRefused(
            f"run '{run_id}' is {now['status']}, not waiting for approval (decided by another process)",
            fix="see `warden runs --status waiting_approval`",
        )
    raise RunRefused(
        f"run '{run_id}' has no pending approval in its checkpoint",
        fix=f"resume the tree with `warden resume {row['root_run_id']}`",
    )


def decide(rt: Runtime, run_id: str, decision: ApprovalDecision) -> Outcome:
    """Check a decision, claim the run so only one process acts on it, then resume the graph."""
    from langgraph.types import Command

    from warden.governance.approval_rules import decision_error

    row, interrupt_id, payload = pending_approval(rt, run_id)
    error = decision_error(
        decision,
        policy=rt.current_policy(),
        tenant=row["tenant"],
        requester=row["requester"],
        required_role=payload["required_role"],
        draft_sha256=payload["runbook_sha256"],
    )
    if error:
        raise RunRefused(error)
    if decision.decision == "edit":
        from warden.graph.nodes.guard import guard_context
        from warden.guard import validate

        state = {
            "run_id": run_id,
            "root_run_id": row["root_run_id"],
            "tenant": row["tenant"],
            "depth": row["depth"],
            "parent_limits": payload.get("parent_limits"),
        }
        report = validate(decision.edited_runbook, guard_context(state, rt))  # type: ignore[arg-type]
        if not report.ok:
            codes = sorted({i.code for i in report.issues if i.severity == "error"})
            raise RunRefused(
                f"the edited runbook fails the guard: {', '.join(codes)}",
                fix="run `warden validate` on it and fix the issues",
            )
    claimant = f"{socket.gethostname()}:{os.getpid()}"
    with rt.store.connect() as con:
        if not runs.claim(con, run_id, claimant):
            raise RunRefused(f"run '{run_id}' was decided by another process just now")
    resume = {interrupt_id: decision.model_dump(mode="json")}
    with _driving(rt, row["root_run_id"]):
        result = rt.graph().invoke(Command(resume=resume), _config(row["root_run_id"]), durability="sync")
        outcome = _settle(rt, row["root_run_id"], result)
    if any(w["run_id"] == run_id for w in outcome.waiting):
        # the approval node refused the decision (and audited why): say so, do not report success
        with rt.store.connect(read_only=True) as con:
            refused = con.execute(
                """SELECT payload_json FROM audit_events WHERE run_id = ? AND event = 'approval_refused'
                   ORDER BY seq DESC LIMIT 1""",
                [run_id],
            ).fetchone()
        reason = json.loads(refused[0]).get("reason") if refused else "the decision was not accepted"
        raise RunRefused(f"run '{run_id}' is still waiting: {reason}", fix=f"see `warden review {run_id}`")
    return outcome


def resume_run(rt: Runtime, run_id: str) -> Outcome:
    """Continue a tree whose process died mid-run, from its last checkpoint."""
    with rt.store.connect(read_only=True) as con:
        row = runs.get_run(con, run_id)
    if row is None:
        raise UsageError(f"no run '{run_id}'", fix="list runs with `warden runs`")
    root = row["root_run_id"]
    state = rt.graph().get_state(_config(root))
    if recovery.never_checkpointed(state):
        # killed (or out of disk) between creating the run and its first checkpoint: start it
        # again from its recorded request, or say why not (see warden.graph.recovery)
        initial = recovery.restart_state(rt, root)
        if initial is not None:
            _reopen_after_internal_error(rt, root)
            with _driving(rt, root):
                result = rt.graph().invoke(initial, _config(root), durability="sync")
                return _settle(rt, root, result)
    left = recovery.work_left(state)  # next nodes, or a task whose writes outlived its checkpoint
    if state.interrupts or left:
        _reopen_after_internal_error(rt, root)
    if state.interrupts:
        recorded = _recorded_decisions(rt, state.interrupts)
        if not recorded:
            return _settle(rt, root, {"__interrupt__": state.interrupts})
        # the approver's process died after the decision was recorded, before the checkpoint:
        # apply that decision (checked again by the approval node) instead of asking twice
        from langgraph.types import Command

        with _driving(rt, root):
            result = rt.graph().invoke(Command(resume=recorded), _config(root), durability="sync")
            return _settle(rt, root, result)
    if not left:
        return _settle(rt, root, {})
    with _driving(rt, root):
        result = rt.graph().invoke(None, _config(root), durability="sync")
        return _settle(rt, root, result)


def _recorded_decisions(rt: Runtime, interrupts: Any) -> dict[str, dict[str, Any]]:
    """Decisions already recorded in the store for pending approval interrupts, by interrupt id.

    A decision is recorded (and its run claimed) in the same process that resumes the graph;
    killed between the two, the checkpoint still shows the interrupt although the store holds
    the decision. Only a run claimed for execution (status ``running``) is re-applied.
    """
    found: dict[str, dict[str, Any]] = {}
    with rt.store.connect(read_only=True) as con:
        for pending in interrupts:
            payload = pending.value if isinstance(pending.value, dict) else {}
            run = runs.get_run(con, payload.get("run_id", "")) if payload.get("run_id") else None
            if run is None or run["status"] != "running":
                continue
            row = con.execute(
                """SELECT a.decision, a.approver, a.role, a.comment, a.auto_rule, v.definition_json
                   FROM approvals a LEFT JOIN runbook_versions v
                     ON v.tenant = a.tenant AND v.runbook = a.runbook AND v.sha256 = a.runbook_sha256
                   WHERE a.run_id = ? ORDER BY a.decided_at DESC LIMIT 1""",
                [payload["run_id"]],
            ).fetchone()
            if row is None:
                continue
            decision, approver, role, comment, auto_rule, definition = row
            found[pending.id] = ApprovalDecision(
                decision=decision,
                approver=approver,
                role=role,
                runbook_sha256=payload["runbook_sha256"],
                comment=comment,
                auto_rule=auto_rule,
                edited_runbook=json.loads(definition) if decision == "edit" and definition else None,
            ).model_dump(mode="json")
    return found
