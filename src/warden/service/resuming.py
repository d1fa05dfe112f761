"""Resuming a tree whose process died: from its last checkpoint, or from its recorded request
when it died before the first one; and finding the trees whose driver is gone (orphans of a
server that stopped mid-run), which a starting server resumes.

On a ledger several hosts share, the embedded engine's checkpoints of a tree are on the host
that recorded it (the ledger names it: ``store.hosts``): only that host resumes the tree. Any
other refuses (`run_on_other_host`) rather than run it a second time from its request, unless
an administrator of the tenant takes the tree over because its host is gone for good
(``warden resume RUN --take-over --reason WHY``): audited, naming both hosts, who and why; the
tree then starts again from its recorded request on the new host, which is its host from then
on (the old one, should it come back, leaves it alone)."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from warden.errors import UsageError
from warden.graph import recovery
from warden.graph.context import RunContext
from warden.graph.engine import EmbeddedEngine, Outcome, settle
from warden.schemas.approval import ApprovalDecision
from warden.schemas.status import TERMINAL
from warden.service._base import ServiceBase
from warden.service.driving import RunBusy, alive, this_driver
from warden.service.errors import HostAlive, RunOnOtherHost
from warden.service.liveness import Seen, host_alive, process_alive
from warden.service.principal import Principal
from warden.service.starting import initial_state
from warden.store import (
    approvals,
    audit,
    hosts,
    retrying_conflicts,
    runs,
)

__all__ = ["TAKE_OVER_ROLES", "InFlight", "ResumeOps"]

TAKE_OVER_ROLES = ("admin", "operator")
"""The roles of a tenant (besides the policy's admins) whose holders may take a tree of the
tenant over from a host that is gone for good."""


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
    def resume(
        self, p: Principal, run_id: str, *, take_over: str | None = None, from_host: str | None = None
    ) -> Outcome:
        """Continue a tree whose process died, from its last checkpoint, under its bound policy;
        a tree killed before its first checkpoint starts again from its recorded request. A tree
        a live process is driving is refused (`run_busy`): resuming it would run it twice.

        On a ledger several hosts share, a tree of another host is refused
        (`run_on_other_host`): its checkpoints are there. `take_over` (the reason, required) is
        an administrator's escape for a tree whose host is gone for good: a user with role
        admin or operator in the tenant, or a policy admin, makes this host the tree's
        (audited) and it starts again here from its recorded request. `from_host`: the host the
        administrator knows is gone (as the refusal named it); the take-over is refused, naming
        the tree's host, if that is another one by now (another take-over moved it: that host
        may be alive and driving it). Without it, the host the ledger names now is replaced.
        Either way the take-over is refused (`host_alive`) while a process of that host has
        recorded a heartbeat within its liveness window (service/liveness.py): checked first,
        and again in the transaction that hands the tree over."""
        with self._one_connection():
            run = self._visible_run(p, run_id)
            root_id, tenant = run["root_run_id"], run["tenant"]
            elsewhere = self._host_elsewhere(root_id)
            if take_over is not None:
                self._may_take_over(p, tenant, root_id, take_over, elsewhere)
                if elsewhere is not None and from_host is not None and elsewhere.get("host") != from_host:
                    raise self._elsewhere(root_id, elsewhere)  # not the host the admin knows is gone
                self._silent(root_id, elsewhere)  # a host that beats is not gone
            elif elsewhere is not None:
                finished = self._finished(root_id)
                if finished is not None:  # nothing to resume: the answer any host would give
                    return finished
                raise self._elsewhere(root_id, elsewhere)
            with self.leases.lease(root_id, wait=False) as mine:
                if not mine:
                    raise self._busy(root_id)
                if take_over is not None and elsewhere is not None:
                    # looked at again under the lease: another take-over may have moved the tree
                    # (and run it to its approval) since; this one was asked of the host seen then
                    now = self._host_elsewhere(root_id)
                    if now is None:  # this host's already (another thread of it took it over)
                        self._may_take_over(p, tenant, root_id, take_over, None)
                    elif now.get("host") != elsewhere.get("host"):
                        raise self._elsewhere(root_id, now)
                    self._can_take_over(root_id)
                    self._take_over(p, root_id, tenant, elsewhere, take_over.strip())
                return self._resume_tree(root_id)

    def _finished(self, root_id: str) -> Outcome | None:
        """The outcome of a tree that is over and that no resume would reopen; None otherwise."""
        with self.store.connect(read_only=True) as con:
            root = runs.get_run(con, root_id)
        if root is None or root["status"] not in TERMINAL or self._reopenable(root_id):
            return None
        return Outcome(root_id, root["status"], [], root["status_reason"])

    @staticmethod
    def _elsewhere(root_id: str, host: dict[str, Any]) -> RunOnOtherHost:
        if host.get("host"):
            who = f"host '{host['host']}' ({host['hostname']}, state directory {host['home']})"
        else:
            who = "another host (the ledger does not name it: the tree is older than host records)"
        return RunOnOtherHost(
            f"run '{root_id}' belongs to {who}, which keeps its checkpoints; resuming it here "
            "would run it a second time",
            fix=f"resume it on that host (`warden resume {root_id}` there); if that host is gone for "
            f"good, an administrator of the tenant may take it over here: `warden resume {root_id} "
            f"--take-over{' --from-host ' + host['host'] if host.get('host') else ''} --reason WHY` "
            "(audited; it starts again from its recorded request)",
        )

    def _may_take_over(
        self, p: Principal, tenant: str, root_id: str, reason: str, elsewhere: dict[str, Any] | None
    ) -> None:
        """Refuse a take-over that is not needed, has no reason, or is not an administrator's."""
        if elsewhere is None:
            raise UsageError(
                f"run '{root_id}' is this host's: there is nothing to take over",
                fix=f"resume it without --take-over: `warden resume {root_id}`",
                code="take_over_needless",
            )
        if not reason.strip():
            raise UsageError(
                "a take-over needs a reason (it is recorded in the audit trail)",
                fix="say why the tree's host is gone for good: --reason WHY",
                code="reason_required",
            )
        if not (p.admin or set(p.roles_in(tenant)) & set(TAKE_OVER_ROLES)):
            raise UsageError(
                f"'{p.user}' may not take run '{root_id}' over from another host",
                fix=f"ask a user with role {' or '.join(TAKE_OVER_ROLES)} in tenant '{tenant}', or a "
                "policy admin",
                code="forbidden",
            )

    def _can_take_over(self, root_id: str) -> None:
        """Refuse a take-over of a tree this host could not run: one waiting for approval (its
        pending decision is in the lost checkpoints: starting again would run it behind its
        approval), a finished one, one with no recorded request. Checked under the tree's lease,
        before the hand-over commits (a tree taken over must be one this host can run)."""
        with self.store.connect(read_only=True) as con:
            root = runs.get_run(con, root_id)
            members = runs.tree(con, root_id)
        assert root is not None
        if any(m["status"] == "waiting_approval" for m in [root, *members]):
            raise recovery.CheckpointMissing(
                f"run '{root_id}' waits for approval, and its checkpoint is on the other host",
                fix="bring that host's state directory back (or restore its checkpoints.sqlite from "
                "a backup) and resume it there; Warden will not start the run again behind its approval",
            )
        if self._finished(root_id) is not None:
            raise UsageError(
                f"run '{root_id}' is {root['status']}: there is nothing to take over",
                fix=f"read it from any host (`warden runs`, `warden findings {root_id}`)",
                code="take_over_needless",
            )
        if not root.get("request_json"):
            raise recovery.RunNotRestartable(
                f"run '{root_id}' has no recorded request to start it again from on this host",
                fix="start a new analysis with `warden analyse`",
            )

    def _take_over(
        self, p: Principal, root_id: str, tenant: str, previous: dict[str, Any], reason: str
    ) -> None:
        """Make this host the tree's (compare-and-set: a take-over by another host at once wins or
        loses whole) and audit it: the old host, the new one, who and why."""
        here = {"host": self.leases.host_id, "hostname": socket.gethostname(), "home": self.leases.where}

        def hand_over() -> None:
            with self.store.connect() as con:
                seen = host_alive(con, previous["host"]) if previous.get("host") else None
                if seen is not None:
                    raise self._alive(root_id, previous, seen)
                moved = hosts.hand_over(con, root_id, previous=previous.get("host"), **here)
                if not moved:
                    now_row = hosts.host_of(con, root_id) or {"host": None}
                    raise self._elsewhere(root_id, now_row)
                audit.audit(
                    con,
                    run_id=root_id,
                    root_run_id=root_id,
                    tenant=tenant,
                    actor=p.user,
                    event="tree_taken_over",
                    payload={
                        "previous_host": previous.get("host"),
                        "previous_hostname": previous.get("hostname"),
                        "previous_home": previous.get("home"),
                        **here,
                        "by": p.user,
                        "auth": p.auth,
                        "reason": reason,
                        "driver": this_driver(),
                    },
                )

        retrying_conflicts(hand_over)

    def _silent(self, root_id: str, host: dict[str, Any] | None) -> None:
        """Refuse to take a tree over from a host one of whose processes beats (`host_alive`)."""
        if host is None or not host.get("host"):
            return  # nothing to take over (refused below), or a host never named: cannot tell
        with self.store.connect(read_only=True) as con:
            seen = host_alive(con, host["host"])
        if seen is not None:
            raise self._alive(root_id, host, seen)

    @staticmethod
    def _alive(root_id: str, host: dict[str, Any], seen: Seen) -> HostAlive:
        return HostAlive(
            f"run '{root_id}' belongs to host '{host['host']}' ({host.get('hostname')}, state directory "
            f"{host.get('home')}), which is alive: {seen.describe()}; taking the tree over would drive "
            "it on two hosts",
            fix=f"resume it on that host (`warden resume {root_id}` there); if it must move, stop "
            "Warden there first (a clean stop ends its heartbeat at once; a crashed or cut-off host "
            f"falls silent {seen.window_s:.0f} s after its last heartbeat), then take it over again",
        )

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
        ours = self._ours_among(sorted({row["root_run_id"] for row in found}))
        trees: dict[str, list[dict[str, Any]]] = {}
        for row in found:
            if row["root_run_id"] not in ours:
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
        """Whether the tree is this state directory's: see :meth:`_ours_among`."""
        return root_id in self._ours_among([root_id])

    def _ours_among(self, root_ids: list[str]) -> set[str]:
        """Those of the trees this state directory recorded or drove (or took over). All of them
        on the DuckDB file (the ledger is the directory's own); on a ledger several hosts share,
        another host's tree has its checkpoints and driver lease there: from here it would look
        orphaned while it runs, and resuming it would drive it twice. The ledger names each
        tree's host; a tree it does not name (older than host records) is this directory's when
        its lock file is here."""
        if self.store.backend == "duckdb":
            return set(root_ids)
        with self.store.connect(read_only=True) as con:
            named = hosts.hosts_of(con, root_ids)
        me = self.leases.host_id
        return {r for r in root_ids if (named[r] == me if r in named else self.leases.known(r))}

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
            ctx = self.leases.fenced(ctx, root_id)  # its writes stop if another host takes it over
            state = embedded.pending(root_id)
            reopen = self._reopenable(root_id)
            if root["status"] in TERMINAL and not reopen:
                return Outcome(root_id, root["status"], [], root["status_reason"])
            if recovery.never_checkpointed(state):  # killed before the first checkpoint
                import json

                with self.store.connect(read_only=True) as con:
                    members = runs.tree(con, root_id)
                recovery.check_restartable(root, members, embedded.checkpoint_path)
                self._reopen(root_id, ctx)
                request = json.loads(root["request_json"])
                initial = initial_state(root_id, root["tenant"], root["requester"], request)
                return embedded.drive(ctx, root_id, initial)
            left = recovery.work_left(state)
            if state.interrupts or left:
                self._reopen(root_id, ctx)
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

    @staticmethod
    def _reopen(root_id: str, ctx: RunContext) -> None:
        """Runs failed by an internal or storage error go back to running before a retry (through
        the drive's fenced store: not on a tree another host took over meanwhile)."""
        with ctx.store.connect() as con:
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
    claim by a dead process of this machine, or by a process of another machine whose
    heartbeat is past its window (or that never beat: the DuckDB file, an older Warden), is
    dropped."""
    for payload in waiting:
        run = runs.get_run(con, payload["run_id"])
        if run is None or run["status"] != "running" or not run.get("claimed_by"):
            continue
        claimant = run["claimed_by"]
        here = alive(claimant)
        seen = process_alive(con, claimant) if here is None else None
        if here or seen is not None:
            how = f"; {seen.describe()}" if seen is not None else ""
            raise RunBusy(
                f"run '{run['run_id']}' has a decision being carried out by {claimant}, which is alive{how}",
                fix="wait until it finishes or reaches an approval (`warden runs` shows where it is); "
                "resume only what a dead process left running",
            )


def _waits_below(run: dict[str, Any], members: list[dict[str, Any]]) -> bool:
    """Some run below `run` in its tree waits for an approval."""
    children = [m for m in members if m["parent_run_id"] == run["run_id"]]
    return any(c["status"] == "waiting_approval" or _waits_below(c, members) for c in children)
