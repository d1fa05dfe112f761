"""Approvals: what a reviewer sees, the decision checked under the run's bound policy and
claimed by exactly one process, carried out; cancelling a waiting run."""

from __future__ import annotations

import os
import socket
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from warden.errors import UsageError, WardenError
from warden.governance.policy import LoadedPolicy
from warden.graph.engine import Outcome
from warden.schemas.approval import ApprovalDecision, DecisionKind
from warden.schemas.runbook import RunbookDefinition
from warden.service._base import ServiceBase
from warden.service.errors import (
    RunRefused,
    RunTakenOver,
    invalid_input,
)
from warden.service.principal import Principal
from warden.service.queue import (
    RunbookVersion,
)
from warden.store import (
    approval_queue,
    approvals,
    audit,
    documents,
    is_write_conflict,
    retrying_conflicts,
    runs,
)

__all__ = ["ClaimedDecision", "DecisionOps", "decision_fix"]


@dataclass(frozen=True)
class ClaimedDecision:
    """A decision checked and its run claimed (only one claimant wins); carried out by
    :meth:`Service.carry_out`."""

    run_id: str
    root_run_id: str
    resume: dict[str, Any]
    policy: LoadedPolicy
    claimant: str = ""
    """The ``hostname:pid`` that claimed it (``runs.claimed_by``)."""


class DecisionOps(ServiceBase):
    def pending(self, p: Principal, run_id: str) -> tuple[dict[str, Any], str, dict[str, Any]]:
        """(run row, interrupt id, approval payload) of a run `p` may see that waits for approval."""
        row = self._visible_run(p, run_id)
        if row["status"] != "waiting_approval":
            raise RunRefused(
                f"run '{run_id}' is {row['status']}, not waiting for approval",
                fix="see `warden runs --status waiting_approval`",
            )
        found = self.engine.approval(row["root_run_id"], run_id)
        if found is not None:
            return row, found.id, found.payload
        with self.store.connect(read_only=True) as con:
            now = runs.get_run(con, run_id)
        if now is not None and now["status"] != "waiting_approval":  # decided meanwhile
            raise RunRefused(
                f"run '{run_id}' is {now['status']}, not waiting for approval (decided by another process)",
                fix="see `warden runs --status waiting_approval`",
            )
        host = self._host_elsewhere(row["root_run_id"])
        if host is not None:  # a shared ledger: the pending decision is in that host's checkpoints
            where = f"host '{host['host']}' ({host['hostname']})" if host.get("host") else "another host"
            raise RunRefused(
                f"run '{run_id}' waits in the checkpoints of {where}, not of this one",
                fix="decide it through a server or CLI on that host",
            )
        raise RunRefused(
            f"run '{run_id}' has no pending approval in its checkpoint",
            fix=f"resume the tree with `warden resume {row['root_run_id']}`",
        )

    def review(self, p: Principal, run_id: str) -> dict[str, Any]:
        """What an approver reviews: the pending draft and report, and the documents it is about."""
        with self._one_connection():
            row, _, payload = self.pending(p, run_id)
            with self.store.connect(read_only=True) as con:
                docs = [
                    documents.get_document(con, d, row["root_run_id"])
                    for d in documents.document_ids_of_run(con, row["root_run_id"])
                ]
        return {
            **payload,
            "policy_sha256": row.get("policy_sha256"),
            "documents": [
                {
                    "id": d.id,
                    "name": d.name,
                    "format": d.format,
                    "pages": d.pages,
                    "passages": len(d.passages),
                    "title": d.title,
                }
                for d in docs
                if d is not None
            ],
        }

    def decide(
        self,
        p: Principal,
        run_id: str,
        kind: DecisionKind,
        *,
        role: str,
        comment: str | None = None,
        edited_runbook: RunbookDefinition | None = None,
        reviewed_sha256: str | None = None,
    ) -> Outcome:
        """Approve, reject or approve an edit of a waiting run, under the policy it is bound to;
        the run is claimed first so only one process carries a decision out. On a shared ledger
        the process beats for its host from the claim to the end of the carry-out."""
        with self.leases.beats.hold("claimant"):
            return self.carry_out(
                self.claim_decision(
                    p,
                    run_id,
                    kind,
                    role=role,
                    comment=comment,
                    edited_runbook=edited_runbook,
                    reviewed_sha256=reviewed_sha256,
                )
            )

    def claim_decision(
        self,
        p: Principal,
        run_id: str,
        kind: DecisionKind,
        *,
        role: str,
        comment: str | None = None,
        edited_runbook: RunbookDefinition | None = None,
        reviewed_sha256: str | None = None,
    ) -> ClaimedDecision:
        """Check a decision under the run's bound policy and claim the run (compare-and-set: of
        concurrent deciders exactly one wins, the others are refused); nothing executes yet.
        The claimant is this process: on a shared ledger it beats while it holds the claim
        (:meth:`decide` from the claim on, a long-lived server always), so another machine can
        tell whether the claim is still alive."""
        from warden.governance.approval_rules import decision_error
        from warden.graph.nodes.guard import guard_context
        from warden.guard import validate

        with self._one_connection():
            row, interrupt_id, payload = self.pending(p, run_id)
            bound = self.policies.bound(row.get("policy_sha256"))
            self.policies.check_presented(bound, f"the policy run '{run_id}' was requested under")
            try:
                decision = ApprovalDecision(
                    decision="edit" if edited_runbook is not None else kind,
                    approver=p.user,
                    role=role,
                    runbook_sha256=reviewed_sha256 or payload["runbook_sha256"],
                    comment=comment,
                    edited_runbook=edited_runbook,
                    auth=p.auth,
                )
            except ValidationError as exc:
                raise invalid_input(
                    exc,
                    "decision",
                    fix=f"give the role you approve in, the sha256 (64 hex digits) of the draft "
                    f"you reviewed, and a reason to reject (see `warden review {run_id}`); the "
                    "run still waits",
                ) from None
            error = decision_error(
                decision,
                policy=bound,
                tenant=row["tenant"],
                requester=row["requester"],
                required_role=payload["required_role"],
                draft_sha256=payload["runbook_sha256"],
            )
            if error:
                code = "authentication_required" if "authenticated approver" in error else "refused"
                raise RunRefused(error, code=code, fix=decision_fix(code, run_id))
            ctx = self._context(bound)
            self._check_kill_switch(ctx, row["tenant"], run_id)
            if decision.decision == "edit":
                state = {
                    "run_id": run_id,
                    "root_run_id": row["root_run_id"],
                    "tenant": row["tenant"],
                    "depth": row["depth"],
                    "parent_limits": payload.get("parent_limits"),
                }
                edited = decision.edited_runbook
                assert edited is not None
                self._check_edit_data(edited, RunbookDefinition.model_validate(payload["runbook"]))
                gctx = guard_context(state, ctx, live_kill_switch=True)  # type: ignore[arg-type]
                report = validate(edited, gctx)
                if not report.ok:
                    errors = [i for i in report.issues if i.severity == "error"]
                    listed = "; ".join(
                        f"{i.code} at {i.path or 'the runbook'}"
                        + (f" (line {i.line})" if i.line else "")
                        + f": {i.message}"
                        for i in errors
                    )
                    raise RunRefused(
                        f"the edited runbook fails the guard ({len(errors)} issue(s)): {listed}",
                        fix="run `warden validate FILE --policy POLICY` for the line-pointing report, fix "
                        "the issues and approve the edit again; the run still waits",
                        code="edit_refused",
                    )
            claimant = f"{socket.gethostname()}:{os.getpid()}"
            try:
                with self.store.connect() as con:
                    claimed = runs.claim(con, run_id, claimant)
            except Exception as exc:  # a concurrent claim's write conflict: that claimant won
                if not is_write_conflict(exc):
                    raise
                claimed = False
            if not claimed:
                raise self._lost_claim(run_id)
            resume = {interrupt_id: decision.model_dump(mode="json")}
        return ClaimedDecision(run_id, row["root_run_id"], resume, bound, claimant)

    @staticmethod
    def _check_edit_data(edited: RunbookDefinition, draft: RunbookDefinition) -> None:
        """Refuse, before anything is claimed, an edit the graph would refuse for what it is
        rather than what it does: another runbook's or tenant's name (it would be published as
        their approved version), or numbers JSON cannot carry (NaN reaches the graph as null)."""
        from warden.governance.approval_rules import edit_identity_error
        from warden.safeload import plain_data_problem

        problem = plain_data_problem(edited.model_dump(mode="python"))
        why = f"{problem[0] or 'the runbook'} {problem[1]}" if problem else edit_identity_error(draft, edited)
        if why is not None:
            raise RunRefused(
                f"the edited runbook is refused: {why}",
                fix="edit the draft's steps and caps only, with plain finite values; the run still waits",
                code="edit_refused",
            )

    @staticmethod
    def _check_kill_switch(ctx: Any, tenant: str, run_id: str) -> None:
        """Refuse a decision while the tenant's kill switch is engaged: the one in force, not
        only the bound policy's (the switch stays live whatever policy a run is bound to), so
        nothing is approved or published under it, by any entry point or engine."""
        reason = ctx.kill_switch_reason(tenant)
        if reason:
            raise RunRefused(
                f"the kill switch is engaged for tenant '{tenant}': {reason}; no decision is "
                f"taken on run '{run_id}' while it is",
                fix="an admin must release it (`warden policy kill-switch release --tenant TENANT`) "
                "before anything is decided; the run still waits",
                code="kill_switch",
            )

    def _lost_claim(self, run_id: str) -> RunRefused:
        """The refusal of a decision whose claim another process won: naming what happened to
        the run since (decided, cancelled, stopped), as far as the store says now."""
        with self.store.connect(read_only=True) as con:
            now = runs.get_run(con, run_id)
        status = now["status"] if now else None
        if status == "cancelled":
            return RunRefused(
                f"run '{run_id}' was cancelled just now ({now['status_reason'] if now else ''})",
                fix="nothing to decide: the run was withdrawn",
            )
        if status in (None, "running", "waiting_approval"):
            return RunRefused(f"run '{run_id}' was decided by another process just now")
        return RunRefused(
            f"run '{run_id}' is {status} now: decided, or stopped, by another process just now",
            fix=f"see `warden tree {run_id}`",
        )

    def carry_out(self, claimed: ClaimedDecision) -> Outcome:
        """Resume the tree with a claimed decision until it finishes or waits again.

        A carry-out that raises (a storage fault, a bug, Ctrl-C) releases the claim it held:
        the run stays where the failure left it with the reason recorded (``claim_released``
        audited), so `warden resume` (or a starting server's sweep) takes it, instead of
        answering `run_busy` for as long as this process lives."""
        try:
            with self.leases.beats.hold("claimant"):
                return self._carry_out(claimed)
        except BaseException as exc:
            self._release_claim(claimed, exc)
            raise

    def _release_claim(self, claimed: ClaimedDecision, exc: BaseException) -> None:
        """Drop this process's claim of the run after its carry-out failed, audited; a failure to
        (the store itself may be what failed) leaves it as it was: the caller reports `exc`."""
        if not claimed.claimant or isinstance(exc, RunTakenOver):
            return  # (taken over: the tree, its claim and its audit chain are another host's now)
        code = getattr(exc, "code", None)
        said = exc.message if isinstance(exc, WardenError) else str(exc)
        detail = f"{code or type(exc).__name__}: {said[:300]}" if said else type(exc).__name__
        reason = (
            f"the carry-out of a decision by {claimed.claimant} failed ({detail}); its claim was "
            f"released: `warden resume {claimed.root_run_id}` continues the tree"
        )

        def release() -> None:
            with self.store.connect() as con:
                row = runs.get_run(con, claimed.run_id)
                if row is None or not runs.release_claim(con, claimed.run_id, claimed.claimant, reason):
                    return  # settled (waiting again, finished) or claimed by another meanwhile
                audit.audit(
                    con,
                    run_id=claimed.run_id,
                    root_run_id=claimed.root_run_id,
                    tenant=row["tenant"],
                    actor="warden",
                    event="claim_released",
                    payload={
                        "claimant": claimed.claimant,
                        "status": row["status"],
                        "error": type(exc).__name__,
                        "code": code,
                        "reason": reason,
                    },
                )

        with suppress(Exception):  # the original failure is what the caller must see
            retrying_conflicts(release)

    def _carry_out(self, claimed: ClaimedDecision) -> Outcome:
        run_id = claimed.run_id
        with self._one_connection():
            ctx = self._context(claimed.policy)
            [(approval_id, decision)] = claimed.resume.items()
            outcome = self.engine.deliver(ctx, claimed.root_run_id, run_id, approval_id, decision)
            if any(w["run_id"] == run_id for w in outcome.waiting):
                with self.store.connect(read_only=True) as con:
                    refused = audit.last_payload(con, run_id, "approval_refused")
                reason = (refused or {}).get("reason") or "the decision was not accepted"
                raise RunRefused(
                    f"run '{run_id}' is still waiting: {reason}", fix=f"see `warden review {run_id}`"
                )
            return outcome

    def cancel(self, p: Principal, run_id: str, reason: str) -> Outcome:
        """Withdraw a waiting run (its requester or an approver may): its whole tree stops.

        `run_id` may also name a run above the one that waits (the root `warden analyse` printed,
        while its child waits): the permission is checked against the waiting run, as if it were
        named, since that is the decision the withdrawal takes away."""
        if not reason or not reason.strip():
            raise UsageError("a cancellation needs a reason", fix="pass --reason TEXT")
        with self._one_connection():
            waiting_id = self._waiting_member(p, run_id)
            row, _, payload = self.pending(p, waiting_id)
            bound = self.policies.bound(row.get("policy_sha256"))
            may = p.user == row["requester"] or payload["required_role"] in bound.roles_of(
                row["tenant"], p.user
            )
            if not may:
                raise RunRefused(
                    f"'{p.user}' neither requested run '{waiting_id}' nor may approve it",
                    fix="ask its requester or a holder of role " + str(payload["required_role"]),
                    code="forbidden",
                )
            if bound.tenant(row["tenant"]).approval.require_authenticated and not p.authenticated:
                raise UsageError(
                    f"the policy lets only authenticated users decide on runs of tenant "
                    f"'{row['tenant']}', and withdrawing one is a decision; '{p.user}' was only "
                    "asserted (--as)",
                    fix=decision_fix("authentication_required", waiting_id),
                    code="authentication_required",
                )
            root = row["root_run_id"]
            why = f"withdrawn by {p.user}: {reason}"

            def withdraw() -> dict[str, Any] | None:
                """One transaction that checks the run still waits (another host may have
                decided or cancelled it since `pending` read it) and stops the tree; run again
                when it loses a write race, so the loser is refused as it would be afterwards."""
                with self.store.connect() as con:
                    now = runs.get_run(con, waiting_id)
                    if now is None or now["status"] != "waiting_approval":
                        status = now["status"] if now else "gone"
                        raise RunRefused(
                            f"run '{waiting_id}' is {status}, not waiting for approval "
                            "(decided or cancelled by another process just now)",
                            fix="see `warden runs --status waiting_approval`",
                        )
                    for stopped in runs.stop_subtree(con, root, "cancelled", why):
                        audit.audit(
                            con,
                            run_id=stopped,
                            root_run_id=root,
                            tenant=row["tenant"],
                            actor=p.user,
                            event="run_cancelled",
                            payload={"reason": reason, "auth": p.auth, "requested_for": run_id},
                            key=f"{stopped}:run_cancelled",
                        )
                    return runs.get_run(con, root)

            top = retrying_conflicts(withdraw)
        self.engine.stop([root])  # an engine running the tree elsewhere (Temporal) ends it too
        assert top is not None
        return Outcome(root_run_id=root, status=top["status"], waiting=[], reason=top["status_reason"])

    def _waiting_member(self, p: Principal, run_id: str) -> str:
        """`run_id` if it waits (or no run below it does), else the first run below it that
        waits; an unknown run and another tenant's get the same answer (``_visible_run``)."""
        named = self._visible_run(p, run_id)
        if named["status"] == "waiting_approval":
            return run_id
        with self.store.connect(read_only=True) as con:
            members = runs.tree(con, named["root_run_id"])
        below = {run_id}
        for m in members:  # parents before children
            if m.get("parent_run_id") in below:
                below.add(m["run_id"])
                if m["status"] == "waiting_approval":
                    return str(m["run_id"])
        return run_id

    def versions(self, p: Principal, run_id: str) -> list[RunbookVersion]:
        """The approved versions of the run's runbook in its tenant, newest first."""
        with self._one_connection():
            row = self._visible_run(p, run_id)
            with self.store.connect(read_only=True) as con:
                name = row.get("runbook")
                if not name:
                    queued = approval_queue.get(con, run_id)
                    name = queued["runbook"] if queued else None
                found = approvals.versions_of(con, row["tenant"], name) if name else []
        return [
            RunbookVersion(
                runbook=v["runbook"],
                version_no=v["version_no"],
                declared_version=v["declared_version"],
                sha256=v["sha256"],
                approved_at=v["approved_at"],
                approved_by=v["approved_by"],
                first_run_id=v["first_run_id"],
                decision=v["decision"],
                definition=v["definition"],
            )
            for v in found
        ]

    def check_edit(self, p: Principal, run_id: str, text: str) -> Any:
        """The guard's report (a ``ValidationReport``, as `warden validate` gives it: each issue
        at its line) on an approver's edit of a waiting run's draft, under the run's bound policy
        and its parent's caps: the checks :meth:`claim_decision` applies to an edit."""
        from warden.errors import LoadError
        from warden.graph.nodes.guard import guard_context
        from warden.guard import load_error_report, validate_data
        from warden.safeload import parse_text

        with self._one_connection():
            row, _, payload = self.pending(p, run_id)
            bound = self.policies.bound(row.get("policy_sha256"))
            state = {
                "run_id": run_id,
                "root_run_id": row["root_run_id"],
                "tenant": row["tenant"],
                "depth": row["depth"],
                "parent_limits": payload.get("parent_limits"),
            }
            ctx = guard_context(state, self._context(bound), live_kill_switch=True)  # type: ignore[arg-type]
            try:
                parsed = parse_text(text, source="edited runbook")
            except LoadError as exc:
                return load_error_report(exc, ctx)
            return validate_data(parsed, ctx)


def decision_fix(code: str, run_id: str) -> str:
    if code == "authentication_required":
        return "sign in to the Warden server (or use an API token) and decide there"
    return f"see `warden review {run_id}`"
