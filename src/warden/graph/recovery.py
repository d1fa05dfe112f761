"""What `warden resume` does with a run a storage fault or a kill left behind.

Two cases the checkpoint alone cannot handle:

- A run stopped by a storage fault the user can fix (a full disk, a read-only state directory):
  its runs are failed with a reason that starts ``storage fault (CODE)`` and says that
  ``warden resume`` retries it; resume puts them back to running, like after an internal error.
- A root run with no checkpoint at all (the process was killed, or the disk filled, between
  creating the run row and writing the first checkpoint): it is started again from its recorded
  request (the run row keeps the document and the runbook's content), or, when that cannot be
  done, refused with a coded error saying why.

Small functions the service calls when it resumes a tree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from warden.errors import WardenError
from warden.store.faults import StorageFault

__all__ = [
    "STORAGE_FAULT",
    "CheckpointMissing",
    "RunNotRestartable",
    "check_restartable",
    "fault_reason",
    "is_resumable_reason",
    "never_checkpointed",
    "work_left",
]

INTERNAL_ERROR = "internal error"
"""How the reason of a run failed by an exception out of the graph begins."""
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


def check_restartable(root: dict[str, Any], members: list[dict[str, Any]], checkpoint: Path) -> None:
    """Refuse to start a never-checkpointed tree again when the store says part of it waits for a
    decision (the checkpoint file lost it: starting again would run it behind its approval), or
    when its request was not recorded (runs from before requests were kept)."""
    if root["status"] == "waiting_approval" or any(m["status"] == "waiting_approval" for m in members):
        raise CheckpointMissing(
            f"run '{root['run_id']}' waits for approval, but {checkpoint} holds no checkpoint of it",
            fix=f"restore {checkpoint.name} from a backup; Warden will not start the run again "
            "behind its approval",
        )
    if not root.get("request_json"):
        raise RunNotRestartable(
            f"run '{root['run_id']}' has no checkpoint and no recorded request to start it again from",
            fix="start a new analysis with `warden analyse`",
        )
