"""Resuming a tree whose process died: from its last checkpoint, or from its recorded request
when it died before the first one."""

from __future__ import annotations

from typing import Any

from warden.graph import recovery
from warden.graph.engine import EmbeddedEngine, Outcome, settle
from warden.schemas.approval import ApprovalDecision
from warden.schemas.status import TERMINAL
from warden.service._base import ServiceBase
from warden.service.principal import Principal
from warden.service.starting import initial_state
from warden.store import (
    approvals,
    runs,
)

__all__ = ["ResumeOps"]


class ResumeOps(ServiceBase):
    def resume(self, p: Principal, run_id: str) -> Outcome:
        """Continue a tree whose process died, from its last checkpoint, under its bound policy;
        a tree killed before its first checkpoint starts again from its recorded request."""
        from langgraph.types import Command

        with self._one_connection():
            row = self._visible_run(p, run_id)
            root_id = row["root_run_id"]
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
                        return settle(ctx, root_id, {"__interrupt__": state.interrupts})
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
