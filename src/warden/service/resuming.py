"""Resuming a tree whose process died: from its last checkpoint, or from its recorded request
when it died before the first one; and finding the trees whose driver is gone (orphans of a
server that stopped mid-run), which a starting server resumes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from warden.graph import recovery
from warden.graph.engine import EmbeddedEngine, Outcome, settle
from warden.schemas.approval import ApprovalDecision
from warden.schemas.status import TERMINAL
from warden.service._base import ServiceBase
from warden.service.driving import RunBusy, alive, this_driver
from warden.service.principal import Principal
from warden.service.starting import initial_state
from warden.store import (
    approvals,
    audit,
    runs,
)

__all__ = ["InFlight", "ResumeOps"]


@dataclass(frozen=True)
class InFlight:
    """A tree with a run mid-work (`running`, not merely waiting for a child's approval)."""

    root_run_id: str
    tenant: str
    last_update: datetime
    """The newest status change of its runs (a run just recorded or claimed is this recent)."""
    running: tuple[str, ...]
    claimed_by: str | None
    """The host:pid that claimed a decision on one of its runs, if one did."""


class ResumeOps(ServiceBase):
    def resume(self, p: Principal, run_id: str) -> Outcome:
        """Continue a tree whose process died, from its last checkpoint, under its bound policy;
        a tree killed before its first checkpoint starts again from its recorded request. A tree
        a live process is driving is refused (`run_busy`): resuming it would run it twice."""
        with self._one_connection():
            root_id = self._visible_run(p, run_id)["root_run_id"]
            with self.leases.lease(root_id, wait=False) as mine:
                if not mine:
                    raise self._busy(root_id)
                return self._resume_tree(root_id)

    def _busy(self, root_id: str) -> RunBusy:
        driver = self.leases.driven_elsewhere(root_id) or "another thread of this process"
        return RunBusy(
            f"run '{root_id}' is being driven by {driver}, which is alive",
            fix="wait until it finishes or reaches an approval (`warden runs` shows where it is); "
            "resume only what a dead process left running",
        )

    def live_driver(self, root_id: str) -> str | None:
        """The host:pid of the live process driving the tree, or None when nobody does."""
        return self.leases.driven_elsewhere(root_id)

    def in_flight(self, *, before: datetime | None = None) -> list[InFlight]:
        """Trees with a run mid-work, last changed before `before` (all when None). Each has a
        live driver, or is an orphan: :meth:`resume_orphan` tells them apart under the lease.
        On a ledger several hosts share, only this state directory's trees (:meth:`_ours`)."""
        with self.store.connect(read_only=True) as con:
            found = runs.runs_of_trees_in_flight(con)
        trees: dict[str, list[dict[str, Any]]] = {}
        for row in found:
            if not self._ours(row["root_run_id"]):
                continue
            trees.setdefault(row["root_run_id"], []).append(row)
        out = []
        for root_id, members in trees.items():
            # a parent stays `running` while its child waits for a decision: that needs no driver
            busy = [m for m in members if m["status"] == "running" and not _waits_below(m, members)]
            last = max(m["updated_at"] for m in members)
            if not busy or (before is not None and last >= before):
                continue
            claimed = next((m["claimed_by"] for m in busy if m["claimed_by"]), None)
            out.append(
                InFlight(root_id, members[0]["tenant"], last, tuple(m["run_id"] for m in busy), claimed)
            )
        return sorted(out, key=lambda t: t.last_update)

    def resume_orphan(self, root_id: str, *, actor: str) -> Outcome:
        """Resume a tree whose driver is gone, under its bound policy, audited: an operator's act
        (a starting server's, on its state directory), so it takes no principal. Refused
        (`run_busy`) while a live process holds the tree's lease; a tree that no longer needs a
        driver (finished or resumed meanwhile) is left as it is."""
        ours = self._ours(root_id)  # before the lease, whose lock file would make it look ours
        with self._one_connection(), self.leases.lease(root_id, wait=False) as mine:
            if not mine:
                raise self._busy(root_id)
            tree = next((t for t in self.in_flight() if t.root_run_id == root_id), None) if ours else None
            if tree is None:
                with self.store.connect(read_only=True) as con:
                    root = runs.get_run(con, root_id)
                if root is None:
                    return Outcome(root_id, "failed", [], "the run is missing from the store")
                return Outcome(root_id, root["status"], [], root["status_reason"])
            with self.store.connect() as con:
                audit.audit(
                    con,
                    run_id=root_id,
                    root_run_id=root_id,
                    tenant=tree.tenant,
                    actor=actor,
                    event="orphan_resumed",
                    payload={
                        "previous_driver": self.leases.last_driver.get(root_id),
                        "claimed_by": tree.claimed_by,
                        "running": list(tree.running),
                        "driver": this_driver(),
                        "reason": "its driver stopped while it ran",
                    },
                )
            return self._resume_tree(root_id)

    def _ours(self, root_id: str) -> bool:
        """Whether this state directory recorded or drove the tree. Always on the DuckDB file (the
        ledger is the directory's own); on a ledger several hosts share, another host's tree
        has its checkpoints and driver lease there: from here it would look orphaned while it
        runs, and resuming it would drive it twice."""
        return self.store.backend == "duckdb" or self.leases.known(root_id)

    def _resume_tree(self, root_id: str) -> Outcome:
        """Resume a tree (the caller holds its lease and checked who may)."""
        from langgraph.types import Command

        with self._one_connection():
            with self.store.connect(read_only=True) as con:
                root = runs.get_run(con, root_id)
            assert root is not None
            ctx = self._context(self.policies.bound(root.get("policy_sha256")))
            if self.engine.recovers_itself:  # durable execution: start it if it never was, else wait
                import json

                request = json.loads(root["request_json"])
                initial = initial_state(root_id, root["tenant"], root["requester"], request)
                return self.engine.resume(ctx, root_id, initial)
            embedded = self._embedded()
            state = embedded.pending(root_id)
            reopen = self._reopenable(root_id)
            if root["status"] in TERMINAL and not reopen:
                return Outcome(root_id, root["status"], [], root["status_reason"])
            if recovery.never_checkpointed(state):  # killed before the first checkpoint
                import json

                with self.store.connect(read_only=True) as con:
                    members = runs.tree(con, root_id)
                recovery.check_restartable(root, members, embedded.checkpoint_path)
                self._reopen(root_id)
                request = json.loads(root["request_json"])
                initial = initial_state(root_id, root["tenant"], root["requester"], request)
                return embedded.drive(ctx, root_id, initial)
            left = recovery.work_left(state)
            if state.interrupts or left:
                self._reopen(root_id)
            if state.interrupts:
                recorded = self._recorded_decisions(state.interrupts)
                if not recorded:
                    with self.store.hold():
                        return settle(ctx, root_id, {"__interrupt__": state.interrupts}, check=_no_live_claim)
                # the approver's process died after the decision was recorded, before the
                # checkpoint: apply that decision (checked again by the approval node)
                return embedded.drive(ctx, root_id, Command(resume=recorded))
            if not left:
                return settle(ctx, root_id, {})
            return embedded.drive(ctx, root_id, None)

    def _embedded(self) -> EmbeddedEngine:
        assert isinstance(self.engine, EmbeddedEngine), "checkpoint recovery is the embedded engine's"
        return self.engine

    def _reopenable(self, root_id: str) -> bool:
        with self.store.connect(read_only=True) as con:
            return any(
                r["status"] == "failed" and recovery.is_resumable_reason(r["status_reason"])
                for r in runs.tree(con, root_id)
            )

    def _reopen(self, root_id: str) -> None:
        """Runs failed by an internal or storage error go back to running before a retry."""
        with self.store.connect() as con:
            for run in runs.tree(con, root_id):
                if run["status"] == "failed" and recovery.is_resumable_reason(run["status_reason"]):
                    runs.set_status(con, run["run_id"], "running", "resumed after an error", finished_at=None)

    def _recorded_decisions(self, interrupts: Any) -> dict[str, dict[str, Any]]:
        """Decisions already recorded for pending interrupts (only for runs claimed to run)."""
        found: dict[str, dict[str, Any]] = {}
        with self.store.connect(read_only=True) as con:
            for pending in interrupts:
                payload = pending.value if isinstance(pending.value, dict) else {}
                run = runs.get_run(con, payload.get("run_id", "")) if payload.get("run_id") else None
                if run is None or run["status"] != "running":
                    continue
                last = approvals.latest_decision(con, payload["run_id"])
                if last is None:
                    continue
                found[pending.id] = ApprovalDecision(
                    decision=last["decision"],
                    approver=last["approver"],
                    role=last["role"],
                    runbook_sha256=payload["runbook_sha256"],
                    comment=last["comment"],
                    auto_rule=last["auto_rule"],
                    edited_runbook=last["definition"] if last["decision"] == "edit" else None,
                    auth=last.get("auth") or "asserted",
                ).model_dump(mode="json")
        return found


def _no_live_claim(con: Any, waiting: list[dict[str, Any]]) -> None:
    """Refuse to mark a run waiting again while a live process carries out a decision it
    claimed (claimed, not yet recorded: its driver takes the tree's lease once this resume
    lets go of it). Marking it waiting would drop the claim and let a second decision in. A
    claim by a dead process, or one on another host, is dropped as before."""
    for payload in waiting:
        run = runs.get_run(con, payload["run_id"])
        if run is None or run["status"] != "running" or not run.get("claimed_by"):
            continue
        if alive(run["claimed_by"]):
            raise RunBusy(
                f"run '{run['run_id']}' has a decision being carried out by {run['claimed_by']}, "
                "which is alive",
                fix="wait until it finishes or reaches an approval (`warden runs` shows where it is); "
                "resume only what a dead process left running",
            )


def _waits_below(run: dict[str, Any], members: list[dict[str, Any]]) -> bool:
    """Some run below `run` in its tree waits for an approval."""
    children = [m for m in members if m["parent_run_id"] == run["run_id"]]
    return any(c["status"] == "waiting_approval" or _waits_below(c, members) for c in children)
