"""What `warden resume` does with a run a storage fault or a kill left behind.

Two cases the checkpoint alone cannot handle:

- A run stopped by a storage fault the user can fix (a full disk, a read-only state directory):
  its runs are failed with a reason that starts ``storage fault (CODE)`` and says that
  ``warden resume`` retries it; resume puts them back to running, like after an internal error.
- A root run with no checkpoint at all (the process was killed, or the disk filled, between
  creating the run row and writing the first checkpoint): it is started again from its recorded
  request (the ``run_requested`` audit event holds the document and the runbook), or, when that
  cannot be done, refused with a coded error saying why.

Small functions that :mod:`warden.graph.service` calls, so they survive its rewrite.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from warden.errors import WardenError
from warden.graph.runtime import Runtime
from warden.graph.state import RunState
from warden.store import audit, runs
from warden.store.faults import StorageFault

__all__ = [
    "STORAGE_FAULT",
    "CheckpointMissing",
    "RunNotRestartable",
    "fault_reason",
    "is_resumable_reason",
    "never_checkpointed",
    "restart_state",
    "work_left",
]

INTERNAL_ERROR = "internal error"  # as warden.graph.service.INTERNAL_ERROR (kept in step)
STORAGE_FAULT = "storage fault"
"""How the reason of a run failed by a fixable storage fault begins."""


class RunNotRestartable(WardenError):
    """A run with no checkpoint whose recorded request cannot be run again."""

    code = "run_not_restartable"


class CheckpointMissing(WardenError):
    """The store says the run waits (or went further) but the checkpoint file knows nothing of it."""

    code = "checkpoint_missing"


def fault_reason(fault: StorageFault, root_run_id: str) -> str:
    """The status reason of runs stopped by a fixable storage fault (it names the code and the fix)."""
    fix = f" Fix: {fault.fix}." if fault.fix else ""
    return (
        f"{STORAGE_FAULT} ({fault.code}): {fault.message[:500]}.{fix} Once fixed, "
        f"`warden resume {root_run_id}` retries from the last checkpoint; nothing stored was lost"
    )


def is_resumable_reason(reason: str | None) -> bool:
    """A failed run `warden resume` puts back to running (internal error or fixable storage fault)."""
    return (reason or "").startswith((INTERNAL_ERROR, STORAGE_FAULT))


def never_checkpointed(snapshot: Any) -> bool:
    """The thread has no checkpoint at all (LangGraph's empty StateSnapshot)."""
    return snapshot.created_at is None and not snapshot.values and not snapshot.next


def work_left(snapshot: Any) -> bool:
    """The graph has something to run: next nodes, or a task whose writes were saved although
    the checkpoint after it was not (a full disk between the two): ``next`` alone misses it."""
    return bool(snapshot.next or snapshot.tasks)


def restart_state(rt: Runtime, root_run_id: str) -> RunState | None:
    """The initial state to start a never-checkpointed root run again, from its recorded request.

    None when there is nothing to restart (the run finished, or was cancelled or refused: the
    store's word stands). Raises :class:`CheckpointMissing` when the store says the run waits
    for a decision that the checkpoint file no longer holds, and :class:`RunNotRestartable`
    when its request is not recorded in a form that can run again.
    """
    with rt.store.connect(read_only=True) as con:
        row = runs.get_run(con, root_run_id)
        requested = audit.first_event(con, root_run_id, "run_requested")
        members = runs.tree(con, root_run_id) if row is not None else []
    if row is None:
        return None
    status, reason = row["status"], row["status_reason"]
    if status == "waiting_approval" or any(m["status"] == "waiting_approval" for m in members):
        raise CheckpointMissing(
            f"run '{root_run_id}' waits for approval, but {rt.checkpoint_path} holds no checkpoint of it",
            fix=f"restore {rt.checkpoint_path.name} from a backup; Warden will not start the run again "
            "behind its approval",
        )
    if not (status == "running" or (status == "failed" and is_resumable_reason(reason))):
        return None
    payload = (requested or {}).get("payload") or {}
    if payload.get("replay_of") or not payload.get("document") or not payload.get("runbook"):
        raise RunNotRestartable(
            f"run '{root_run_id}' has no checkpoint and its request cannot be run again "
            + (
                "(it is a replay; replay the original again)"
                if payload.get("replay_of")
                else "(no document and runbook recorded in its run_requested event)"
            ),
            fix="start a new analysis with `warden analyse`",
        )
    policy_sha = payload.get("policy_sha256")
    if policy_sha and policy_sha != rt.policy.sha256:
        raise RunNotRestartable(
            f"run '{root_run_id}' has no checkpoint and was requested under policy {policy_sha[:12]}, "
            f"not the current {rt.policy.sha256[:12]}",
            fix="resume it with the policy it was requested under (--policy), or start a new analysis",
        )
    from warden.runbooks.load import read_runbook

    try:
        parsed = read_runbook(Path(payload["runbook"]))
    except WardenError as exc:
        raise RunNotRestartable(
            f"run '{root_run_id}' has no checkpoint and its runbook {payload['runbook']} cannot be "
            f"read again ({exc.code}: {exc.message})",
            fix="restore the runbook file, or start a new analysis",
        ) from None
    return {
        "run_id": root_run_id,
        "root_run_id": root_run_id,
        "parent_run_id": None,
        "parent_step_id": None,
        "depth": 0,
        "tenant": row["tenant"],
        "requester": row["requester"],
        "document_paths": [str(payload["document"])],
        "document_ids": [],
        "runbook": parsed.data,
        "status": "running",
    }
