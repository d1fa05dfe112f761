"""The one door to the state: every entry point (CLI, server, worker) calls these operations
with a :class:`Principal`; tenancy, roles, the bound policy and the kill switch are checked
here, once, and nowhere above."""

from __future__ import annotations

import os
import random
import re
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from warden.catalogue import Catalogue, default_catalogue
from warden.errors import UsageError
from warden.governance.policy import LoadedPolicy, load_policy
from warden.graph import recovery
from warden.graph.context import RunContext, StepProgress
from warden.graph.engine import EmbeddedEngine, Outcome, notice_payload, settle
from warden.graph.ids import new_run_id
from warden.graph.state import RunState
from warden.llm.config import LlmSettings
from warden.llm_config import model_configuration
from warden.schemas.approval import ApprovalDecision, AuthMethod, DecisionKind
from warden.schemas.policy import Notifications
from warden.schemas.runbook import RunbookDefinition
from warden.schemas.status import RUN_STATUSES, TERMINAL
from warden.service.errors import (
    DocumentRefused,
    NoPrincipal,
    NotFound,
    RunRefused,
    UnknownFinding,
    UploadRefused,
)
from warden.service.policies import PolicyBook
from warden.service.principal import Principal, principal_for
from warden.service.queue import (
    DUE_SOON_FRACTION,
    Comment,
    DeliveryReport,
    Escalation,
    InboxItem,
    QueueHealth,
    RunbookVersion,
    utc_naive,
)
from warden.store import (
    Store,
    approval_queue,
    approvals,
    audit,
    comments,
    documents,
    findings,
    is_write_conflict,
    notifications,
    runs,
    steps,
    triage,
)

if TYPE_CHECKING:
    from warden.service.accounts import Accounts

__all__ = [
    "DEFAULT_RUNBOOK",
    "MAX_UPLOAD_BYTES",
    "UPLOADS",
    "ClaimedDecision",
    "Service",
    "Submitted",
    "builtin_runbook",
]

DEFAULT_RUNBOOK = "privacy-policy-review"
UPLOADS = "uploads"
"""Folder of the state directory documents uploaded through the service are stored in."""
MAX_UPLOAD_BYTES = 20 * 2**20
"""The largest document `upload` stores (20 MiB; a notice is rarely over 2)."""
UPLOAD_SUFFIXES = {
    ".pdf": "pdf",
    ".html": "html",
    ".htm": "html",
    ".docx": "docx",
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
}
"""File name endings an upload may have, and the format each claims."""
SEVERITIES = ("info", "low", "medium", "high", "critical")
RUN_SUMMARY_FIELDS = (
    "run_id",
    "status",
    "tenant",
    "depth",
    "parent_run_id",
    "root_run_id",
    "runbook",
    "runbook_version",
    "runbook_sha256",
    "document",
    "cost_usd",
    "duration_s",
    "requester",
    "created_at",
    "finished_at",
    "status_reason",
)
"""The fields a run listing shows (`warden runs --json` and the API's run summaries)."""
MAX_COMMENT_CHARS = 10_000


def builtin_runbook(name: str) -> Path:
    from importlib import resources

    return Path(str(resources.files("warden_runbooks"))) / f"{name}.yaml"


@dataclass(frozen=True)
class Submitted:
    """A run recorded and bound to its policy but not yet driven (see :meth:`Service.submit`)."""

    run_id: str
    tenant: str
    requester: str
    request: dict[str, Any]
    policy: LoadedPolicy


@dataclass(frozen=True)
class ClaimedDecision:
    """A decision checked and its run claimed (only one claimant wins); carried out by
    :meth:`Service.carry_out`."""

    run_id: str
    root_run_id: str
    resume: dict[str, Any]
    policy: LoadedPolicy


class Service:
    """Warden's operations over one state directory.

    ``policy`` is the policy file the caller presented (``--policy`` / $WARDEN_POLICY), if any:
    it must be the policy in force; an empty state directory is initialised with it.
    """

    def __init__(
        self,
        home: str | Path,
        *,
        policy: str | Path | LoadedPolicy | None = None,
        catalogue: Catalogue | None = None,
        llm_settings: LlmSettings | None = None,
        chat_model: Any = None,
        replaying: bool = False,
    ) -> None:
        self.home = Path(home)
        try:
            self.home.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # e.g. $WARDEN_HOME names a file
            raise UsageError(
                f"cannot use {self.home} as the state directory: {exc.strerror or exc}",
                fix="set WARDEN_HOME to a directory Warden may create and write to",
                code="bad_home",
            ) from None
        presented = load_policy(policy) if isinstance(policy, str | Path) else policy
        self.store = Store(self.home / "warden.duckdb")
        self.policies = PolicyBook(self.store, presented)
        self.engine = EmbeddedEngine(self.home / "checkpoints.sqlite")
        self.catalogue = catalogue or default_catalogue()
        self.llm_settings = llm_settings or LlmSettings()
        self.chat_model = chat_model
        self.replaying = replaying
        self.on_step: Callable[[StepProgress], None] | None = None
        """Called as each step starts (an entry point's progress display)."""
        self._accounts: Accounts | None = None

    @property
    def accounts(self) -> Accounts:
        """Local accounts and credentials (the server's identities; the operator manages them)."""
        if self._accounts is None:
            from warden.service.accounts import Accounts

            self._accounts = Accounts(self)
        return self._accounts

    # --- who is asking -----------------------------------------------------------------------

    def principal(
        self, user: str | None, auth: AuthMethod = "asserted", *, writing: bool = False
    ) -> Principal:
        """The principal for `user` under the policy in force; nobody and strangers get nothing."""
        if not user or not user.strip():
            raise NoPrincipal(
                "no identity given: Warden shows and does nothing for nobody",
                fix="pass --as USER (a user of the policy) or set WARDEN_USER",
            )
        policy = self.policies.in_force(may_initialise=writing)
        found = principal_for(policy, user, auth)
        if found is None:
            raise UsageError(
                f"'{user}' is not a user of any tenant in the policy in force",
                fix="pass --as with a user the policy names",
                code="unknown_user",
            )
        return found

    @contextmanager
    def _one_connection(self) -> Iterator[None]:
        """One DuckDB connection for a whole operation (opening one costs ~40 ms)."""
        with self.store.hold():
            yield

    def _visible_run(self, p: Principal, run_id: str) -> dict[str, Any]:
        """The run, if `p` may see it; otherwise exactly what a missing run answers."""
        with self.store.connect(read_only=True) as con:
            row = runs.get_run(con, run_id)
        if row is None or not p.member_of(row["tenant"]):
            raise NotFound(run_id)
        return row

    def _context(self, policy: LoadedPolicy) -> RunContext:
        return RunContext(
            store=self.store,
            policy=policy,
            catalogue=self.catalogue,
            llm_settings=self.llm_settings,
            chat_model=self.chat_model,
            replaying=self.replaying,
            live_policy=self.policies.live,
            on_step=self.on_step,
        )

    # --- starting a run ----------------------------------------------------------------------

    def check_document(self, policy: LoadedPolicy, tenant: str, path: str | Path) -> Path:
        """The document's real path, if it lies under the tenant's document roots or its
        uploads; a coded refusal otherwise (nothing of it is read or stored)."""
        real = Path(path).expanduser().resolve()
        roots = [*policy.document_roots(tenant), (self.home / UPLOADS / tenant).resolve()]
        if not any(real == root or real.is_relative_to(root) for root in roots):
            raise DocumentRefused(
                f"{path}: not under a document root of tenant '{tenant}'",
                fix="move it under one of: "
                + ", ".join(str(r) for r in roots)
                + " (or add its folder to the tenant's document_roots in the policy)",
            )
        return real

    def start(
        self,
        p: Principal,
        document: str | Path,
        *,
        tenant: str,
        runbook: str | Path | None = None,
    ) -> Outcome:
        """Request an analysis of one document; runs until it finishes or waits for approval.
        One DuckDB connection serves the request's checks, its record and the graph (an open
        and a close cost ~30 and ~80 ms)."""
        with self._one_connection():
            return self.proceed(self.submit(p, document, tenant=tenant, runbook=runbook))

    def submit(
        self,
        p: Principal,
        document: str | Path,
        *,
        tenant: str,
        runbook: str | Path | None = None,
        runbook_text: str | None = None,
    ) -> Submitted:
        """Check and record a request (the run is `running`, bound to the policy in force) without
        driving it: an entry point with background workers answers with the run id at once and
        hands the :class:`Submitted` to :meth:`proceed` (a run whose process dies in between
        restarts from its recorded request on `resume`)."""
        from warden.runbooks.load import read_runbook

        policy = self.policies.in_force(may_initialise=True)
        policy.tenant(tenant)
        if not p.member_of(tenant) or not policy.roles_of(tenant, p.user):
            raise UsageError(
                f"'{p.user}' is not a user of tenant '{tenant}'", fix="pass --as with a user of the tenant"
            )
        real = self.check_document(policy, tenant, document)
        if runbook_text is not None:  # a runbook sent with the request (the server's upload)
            from warden.safeload import parse_text

            parsed = parse_text(runbook_text, source="uploaded runbook")
            runbook_path: Path | str = "uploaded runbook"
        else:
            runbook_path = Path(runbook) if runbook else builtin_runbook(DEFAULT_RUNBOOK)
            parsed = read_runbook(runbook_path)
        request = {"document": str(real), "runbook_path": str(runbook_path), "runbook": parsed.data}
        return self._record(p.user, tenant, request, policy, auth=p.auth)

    def proceed(self, submitted: Submitted) -> Outcome:
        """Drive a submitted run until it finishes or waits for approval."""
        state = _initial_state(submitted.run_id, submitted.tenant, submitted.requester, submitted.request)
        with self._one_connection():
            return self.engine.drive(self._context(submitted.policy), submitted.run_id, state)

    def start_request(
        self,
        requester: str,
        tenant: str,
        request: dict[str, Any],
        policy: LoadedPolicy,
        *,
        auth: str = "asserted",
    ) -> Outcome:
        """Record a run for a checked request (a document path or stored document ids, and the
        runbook's data) bound to `policy`, and drive it until it finishes or waits."""
        with self._one_connection():
            return self.proceed(self._record(requester, tenant, request, policy, auth=auth))

    def _record(
        self, requester: str, tenant: str, request: dict[str, Any], policy: LoadedPolicy, *, auth: str
    ) -> Submitted:
        self.engine.open()  # a faulty checkpoint file is refused before a run is recorded
        run_id = new_run_id()
        with self._one_connection(), self.store.connect() as con:
            runs.create_run(
                con,
                runs.RunRow(
                    run_id, run_id, None, None, 0, run_id, "", tenant, requester, policy.sha256, request
                ),
            )
            if request.get("document_ids"):
                documents.link_documents(con, run_id, request["document_ids"])
            audit.audit(
                con,
                run_id=run_id,
                root_run_id=run_id,
                tenant=tenant,
                actor=requester,
                event="run_requested",
                key=f"{run_id}:run_requested",
                payload={
                    "document": request.get("document"),
                    "documents": request.get("document_ids"),
                    "runbook": request.get("runbook_path"),
                    "replay_of": request.get("replay_of"),
                    "policy_sha256": policy.sha256,
                    "auth": auth,
                    "llm_model": self.llm_settings.model,
                    "llm_planner": self.llm_settings.planner,
                    "model": model_configuration(self.llm_settings.model, self.llm_settings.base_url),
                },
            )
        return Submitted(run_id, tenant, requester, request, policy)

    def upload(self, p: Principal, tenant: str, filename: str, data: bytes) -> Path:
        """Store an uploaded document for `tenant` (of which `p` must be a user) under the state
        directory with a generated name; its type is taken from its content, and must agree with
        its name's ending. Refusals are coded and store nothing."""
        import uuid

        from warden.documents.detect import detect_format
        from warden.documents.errors import DocumentError

        policy = self.policies.in_force(may_initialise=True)
        # membership first: an unknown tenant answers like another tenant (names leak nothing)
        if (
            not p.member_of(tenant)
            or tenant not in policy.policy.tenants
            or not policy.roles_of(tenant, p.user)
        ):
            raise UsageError(
                f"'{p.user}' is not a user of tenant '{tenant}'",
                fix="upload for one of your tenants",
                code="forbidden",
            )
        if len(data) > MAX_UPLOAD_BYTES:
            raise UploadRefused(
                f"the upload is {len(data)} bytes, over the limit of {MAX_UPLOAD_BYTES}",
                fix="upload the notice itself, or split it",
                code="upload_too_large",
            )
        suffix = Path(filename or "").suffix.lower()
        claimed = UPLOAD_SUFFIXES.get(suffix)
        if claimed is None:
            raise UploadRefused(
                f"'{filename}': uploads must end in one of {', '.join(sorted(UPLOAD_SUFFIXES))}",
                fix="upload a PDF, HTML, DOCX, Markdown or text document",
                code="upload_type",
            )
        try:
            found = detect_format(data, source=Path(filename).name)
        except DocumentError as exc:
            raise UploadRefused(exc.message, fix=exc.fix, code="upload_type") from None
        if found != claimed and {found, claimed} != {"markdown", "text"}:
            raise UploadRefused(
                f"'{filename}' is named as {claimed} but its content is {found}",
                fix="upload the file under its real type",
                code="upload_type",
            )
        folder = self.home / UPLOADS / tenant
        folder.mkdir(parents=True, exist_ok=True)
        # a generated name; the original's stem, reduced to safe characters, only follows it so
        # people can tell their uploads apart (the inbox shows it)
        stem = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(filename).stem).strip("-.")[:60] or "upload"
        target = folder / f"{uuid.uuid4().hex}--{stem}{suffix}"
        with open(target, "xb") as fh:
            fh.write(data)
        return target

    # --- approvals ---------------------------------------------------------------------------

    def pending(self, p: Principal, run_id: str) -> tuple[dict[str, Any], str, dict[str, Any]]:
        """(run row, interrupt id, approval payload) of a run `p` may see that waits for approval."""
        row = self._visible_run(p, run_id)
        if row["status"] != "waiting_approval":
            raise RunRefused(
                f"run '{run_id}' is {row['status']}, not waiting for approval",
                fix="see `warden runs --status waiting_approval`",
            )
        state = self.engine.pending(row["root_run_id"])
        for interrupt in state.interrupts:
            if isinstance(interrupt.value, dict) and interrupt.value.get("run_id") == run_id:
                return row, interrupt.id, interrupt.value
        with self.store.connect(read_only=True) as con:
            now = runs.get_run(con, run_id)
        if now is not None and now["status"] != "waiting_approval":  # decided meanwhile
            raise RunRefused(
                f"run '{run_id}' is {now['status']}, not waiting for approval (decided by another process)",
                fix="see `warden runs --status waiting_approval`",
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
                    documents.get_document(con, d)
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
        the run is claimed first so only one process carries a decision out."""
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
        concurrent deciders exactly one wins, the others are refused); nothing executes yet."""
        from warden.governance.approval_rules import decision_error
        from warden.graph.nodes.guard import guard_context
        from warden.guard import validate

        with self._one_connection():
            row, interrupt_id, payload = self.pending(p, run_id)
            bound = self.policies.bound(row.get("policy_sha256"))
            self.policies.check_presented(bound, f"the policy run '{run_id}' was requested under")
            decision = ApprovalDecision(
                decision="edit" if edited_runbook is not None else kind,
                approver=p.user,
                role=role,
                runbook_sha256=reviewed_sha256 or payload["runbook_sha256"],
                comment=comment,
                edited_runbook=edited_runbook,
                auth=p.auth,
            )
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
                raise RunRefused(error, code=code, fix=_decision_fix(code, run_id))
            ctx = self._context(bound)
            if decision.decision == "edit":
                state = {
                    "run_id": run_id,
                    "root_run_id": row["root_run_id"],
                    "tenant": row["tenant"],
                    "depth": row["depth"],
                    "parent_limits": payload.get("parent_limits"),
                }
                report = validate(decision.edited_runbook, guard_context(state, ctx))  # type: ignore[arg-type]
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
            with self.store.connect() as con:
                if not runs.claim(con, run_id, claimant):
                    raise RunRefused(f"run '{run_id}' was decided by another process just now")
            resume = {interrupt_id: decision.model_dump(mode="json")}
        return ClaimedDecision(run_id, row["root_run_id"], resume, bound)

    def carry_out(self, claimed: ClaimedDecision) -> Outcome:
        """Resume the tree with a claimed decision until it finishes or waits again."""
        from langgraph.types import Command

        run_id = claimed.run_id
        with self._one_connection():
            ctx = self._context(claimed.policy)
            outcome = self.engine.drive(ctx, claimed.root_run_id, Command(resume=claimed.resume))
            if any(w["run_id"] == run_id for w in outcome.waiting):
                with self.store.connect(read_only=True) as con:
                    refused = audit.last_payload(con, run_id, "approval_refused")
                reason = (refused or {}).get("reason") or "the decision was not accepted"
                raise RunRefused(
                    f"run '{run_id}' is still waiting: {reason}", fix=f"see `warden review {run_id}`"
                )
            return outcome

    def cancel(self, p: Principal, run_id: str, reason: str) -> Outcome:
        """Withdraw a waiting run (its requester or an approver may): its whole tree stops."""
        if not reason or not reason.strip():
            raise UsageError("a cancellation needs a reason", fix="pass --reason TEXT")
        with self._one_connection():
            row, _, payload = self.pending(p, run_id)
            bound = self.policies.bound(row.get("policy_sha256"))
            may = p.user == row["requester"] or payload["required_role"] in bound.roles_of(
                row["tenant"], p.user
            )
            if not may:
                raise RunRefused(
                    f"'{p.user}' neither requested run '{run_id}' nor may approve it",
                    fix="ask its requester or a holder of role " + str(payload["required_role"]),
                    code="forbidden",
                )
            root = row["root_run_id"]
            with self.store.connect() as con:
                why = f"withdrawn by {p.user}: {reason}"
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
                top = runs.get_run(con, root)
        assert top is not None
        return Outcome(root_run_id=root, status=top["status"], waiting=[], reason=top["status_reason"])

    # --- resuming ----------------------------------------------------------------------------

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
            state = self.engine.pending(root_id)
            reopen = self._reopenable(root_id)
            if root["status"] in TERMINAL and not reopen:
                return Outcome(root_id, root["status"], [], root["status_reason"])
            if recovery.never_checkpointed(state):  # killed before the first checkpoint
                import json

                with self.store.connect(read_only=True) as con:
                    members = runs.tree(con, root_id)
                recovery.check_restartable(root, members, self.engine.checkpoint_path)
                self._reopen(root_id)
                request = json.loads(root["request_json"])
                initial = _initial_state(root_id, root["tenant"], root["requester"], request)
                return self.engine.drive(ctx, root_id, initial)
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
                return self.engine.drive(ctx, root_id, Command(resume=recorded))
            if not left:
                return settle(ctx, root_id, {})
            return self.engine.drive(ctx, root_id, None)

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

    # --- reading -----------------------------------------------------------------------------

    def runs(
        self,
        p: Principal,
        *,
        status: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Runs of the principal's tenants, newest first."""
        if status is not None and status not in RUN_STATUSES:
            raise UsageError(f"unknown status '{status}'", fix="use one of: " + ", ".join(RUN_STATUSES))
        if limit is not None and limit < 1:
            raise UsageError(f"--limit {limit}: must be at least 1", fix="pass a positive number")
        with self.store.connect(read_only=True) as con:
            return runs.visible_runs(con, tenants=p.tenants, status=status, since=since, limit=limit)

    def tree(self, p: Principal, run_id: str) -> list[dict[str, Any]]:
        """Every run of the tree `run_id` belongs to, parents first, each with its steps."""
        with self._one_connection():
            row = self._visible_run(p, run_id)
            with self.store.connect(read_only=True) as con:
                members = runs.tree(con, row["root_run_id"])
                for m in members:
                    m["steps"] = steps.steps_of(con, m["run_id"])
        return members

    def findings(
        self,
        p: Principal,
        run_id: str,
        *,
        min_severity: str = "info",
        category: str | None = None,
        hide_suppressed: bool = False,
    ) -> list[dict[str, Any]]:
        """Findings of a run and the runs below it, most severe first, each with its fingerprint
        and the tenant's triage of it (``triage``: None or state, who, why, when, status);
        `hide_suppressed` leaves out those a triage that still applies suppresses."""
        if min_severity not in SEVERITIES:
            raise UsageError(f"unknown severity '{min_severity}'", fix=f"use one of: {', '.join(SEVERITIES)}")
        with self._one_connection():
            self._visible_run(p, run_id)
            with self.store.connect(read_only=True) as con:
                rows = triage.attach_triage(con, findings.findings_of(con, run_id))
        floor = SEVERITIES.index(min_severity)
        return [
            f
            for f in rows
            if SEVERITIES.index(f["severity"]) >= floor
            and (category is None or f["category"] == category)
            and not (hide_suppressed and f["suppressed"])
        ]

    def triage(
        self,
        p: Principal,
        finding_id: str,
        mark: str,
        reason: str,
        *,
        run_id: str | None = None,
    ) -> dict[str, Any]:
        """Record `p`'s verdict (false_positive, accepted_risk, fixed) on a finding, by its
        fingerprint, so later runs of the tenant carry it; audited as ``finding_triaged``.

        The finding is looked up in `run_id`'s tree, else in the newest run of `p`'s tenants
        holding that id (ids are deterministic: the same gap has the same id in every run). Who
        may triage is the tenant's ``approval.triage_roles`` in the policy the run is bound to
        (default: its approval roles). A finding `p` may not see answers as one that does not exist.
        """
        if mark not in triage.TRIAGE_STATES:
            raise UsageError(
                f"unknown triage mark '{mark}'", fix="use one of: " + ", ".join(triage.TRIAGE_STATES)
            )
        if not reason or not reason.strip():
            raise UsageError("a triage needs a reason", fix="pass --reason TEXT")
        with self._one_connection():
            if run_id is not None:
                row = self._visible_run(p, run_id)
                scope = run_id
            else:
                with self.store.connect(read_only=True) as con:
                    holding = findings.runs_holding_finding(con, finding_id, p.tenants)
                if not holding:
                    raise UnknownFinding(finding_id)
                scope = holding[0]["run_id"]
                row = self._visible_run(p, scope)
            with self.store.connect(read_only=True) as con:
                found = [f for f in findings.findings_of(con, scope) if f["finding_id"] == finding_id]
                root = runs.get_run(con, row["root_run_id"])
            if not found:
                raise UnknownFinding(finding_id)
            finding = found[0]
            tenant = finding["tenant"]
            bound = self.policies.bound((root or row).get("policy_sha256"))
            allowed = bound.triage_roles(tenant)
            if not set(allowed) & set(bound.roles_of(tenant, p.user)):
                raise RunRefused(
                    f"'{p.user}' may not triage findings of tenant '{tenant}'",
                    fix="ask a holder of role " + " or ".join(allowed),
                    code="forbidden",
                )
            if bound.tenant(tenant).approval.require_authenticated and not p.authenticated:
                raise RunRefused(
                    "the policy lets only authenticated users triage findings",
                    fix=_decision_fix("authentication_required", finding["run_id"]),
                    code="authentication_required",
                )
            with self.store.connect() as con:
                before = triage.triage_of(con, tenant, [finding["fingerprint"]]).get(finding["fingerprint"])
                verdict = triage.record_triage(
                    con,
                    tenant=tenant,
                    fingerprint=finding["fingerprint"],
                    state=mark,  # type: ignore[arg-type]
                    reason=reason.strip(),
                    who=p.user,
                    auth=p.auth,
                    evidence_hash=finding["evidence_hash"],
                    run_id=finding["run_id"],
                    finding_id=finding_id,
                )
                audit.audit(
                    con,
                    run_id=finding["run_id"],
                    root_run_id=finding["root_run_id"],
                    tenant=tenant,
                    actor=p.user,
                    event="finding_triaged",
                    payload={
                        "finding_id": finding_id,
                        "fingerprint": finding["fingerprint"],
                        "code": finding["code"],
                        "mark": mark,
                        "reason": reason.strip(),
                        "auth": p.auth,
                        "evidence_hash": finding["evidence_hash"],
                        "previous": before["state"] if before else None,
                        "policy_sha256": bound.sha256,
                    },
                )
                shown = triage.attach_triage(con, [finding])[0]
        return {**shown, "recorded": verdict}

    def diff(self, p: Principal, run_a: str, run_b: str) -> dict[str, Any]:
        """Findings of run tree B against run tree A, by fingerprint: ``new`` (only in B),
        ``resolved`` (only in A), ``unchanged`` (in both; ``evidence_changed`` when the evidence
        differs) and ``suppressed`` (in B, hidden by a triage that still applies). Both runs must
        be visible to `p`; either one unknown answers like a run that does not exist."""
        with self._one_connection():
            row_a = self._visible_run(p, run_a)
            row_b = self._visible_run(p, run_b)
            if row_a["tenant"] != row_b["tenant"]:
                raise UsageError(
                    f"runs '{run_a}' and '{run_b}' belong to different tenants",
                    fix="compare two runs of one tenant",
                    code="different_tenants",
                )
            with self.store.connect(read_only=True) as con:
                before = triage.attach_triage(con, findings.findings_of(con, run_a))
                after = triage.attach_triage(con, findings.findings_of(con, run_b))
        earlier = {f["fingerprint"]: f for f in before}
        later = {f["fingerprint"]: f for f in after}
        out: dict[str, Any] = {
            "run_a": run_a,
            "run_b": run_b,
            "tenant": row_b["tenant"],
            "new": [],
            "resolved": [],
            "unchanged": [],
            "suppressed": [],
        }
        for fp, f in later.items():
            entry = _diff_entry(f)
            if fp in earlier:
                entry["evidence_changed"] = earlier[fp]["evidence_hash"] != f["evidence_hash"]
            if f["suppressed"]:
                out["suppressed"].append(entry)
            elif fp in earlier:
                out["unchanged"].append(entry)
            else:
                out["new"].append(entry)
        out["resolved"] = [_diff_entry(f) for fp, f in earlier.items() if fp not in later]
        return out

    def ropa(self, p: Principal, run_id: str) -> dict[str, Any]:
        """The record of processing activities (Art. 30(1)) the run tree's notice and scans
        support, per system (the inventory of the policy the run is bound to) and purpose; each
        field cites its passages or findings, and a field neither supplies is a gap."""
        from warden.investigate.ropa import SystemInfo, build_ropa
        from warden.investigate.source import Source

        with self._one_connection():
            row = self._visible_run(p, run_id)
            with self.store.connect(read_only=True) as con:
                root = runs.get_run(con, row["root_run_id"])
            bound = self.policies.bound((root or row).get("policy_sha256"))
            systems = [
                SystemInfo(s.id, s.type, s.description, s.owner, tuple(s.tags))
                for s in bound.tenant(row["tenant"]).systems
            ]
        # the investigation helpers open their own read-only connection: after ours is closed
        return build_ropa(Source(self.store.path), run_id, systems)

    def visible_run(self, p: Principal, run_id: str) -> dict[str, Any]:
        """The run row, for entry points that read more of it (reports, exports)."""
        return self._visible_run(p, run_id)

    def verify_audit(self, p: Principal, run_id: str | None = None, *, head: str | None = None) -> list[Any]:
        """Recompute the audit hash chain of the run's tenant (without a run: of every tenant of
        `p`); each report names the first edited, deleted, inserted or reordered event."""
        from warden.store.audit import verify_chain

        if run_id is not None:
            row = self._visible_run(p, run_id)
            chains: list[tuple[str, str | None]] = [(row["tenant"], row["root_run_id"])]
        else:
            chains = [(tenant, None) for tenant in p.tenants]
        if head is not None and len(chains) != 1:
            raise UsageError("--head anchors one tenant's chain", fix="pass a RUN of that tenant")
        with self.store.connect(read_only=True) as con:
            return [verify_chain(con, tenant, root_run_id=root, anchor=head) for tenant, root in chains]

    # --- the approval queue ------------------------------------------------------------------

    def inbox(
        self,
        p: Principal,
        *,
        tenant: str | None = None,
        limit: int | None = None,
        offset: int = 0,
        now: datetime | None = None,
    ) -> list[InboxItem]:
        """The pending approvals `p` may decide, oldest first: in each run's bound policy `p`
        holds the required role in its tenant, the run is not `p`'s own request unless that
        tenant allows self-approval, and `p` is signed in where the policy demands it. Read from
        the approval queue alone (no checkpoint); `now` is the clock the SLA states use."""
        if limit is not None and limit < 1:
            raise UsageError(f"limit {limit}: must be at least 1", fix="pass a positive number")
        if offset < 0:
            raise UsageError(f"offset {offset}: must be 0 or more", fix="pass a non-negative number")
        at = utc_naive(now)
        tenants = [t for t in p.tenants if tenant is None or t == tenant]
        if not tenants:
            return []
        with self._one_connection():
            with self.store.connect(read_only=True) as con:
                pairs = approval_queue.pending_policies(con, tenants)
            filters = []
            for name, sha in pairs:
                bound = self.policies.bound(sha)
                held = bound.roles_of(name, p.user)
                rules = bound.policy.tenants[name].approval if name in bound.policy.tenants else None
                if not held or rules is None or (rules.require_authenticated and not p.authenticated):
                    continue
                mine = None if rules.allow_self_approval else p.user
                filters.append(approval_queue.InboxFilter(name, sha, tuple(held), mine))
            with self.store.connect(read_only=True) as con:
                found = approval_queue.inbox(
                    con, filters, at=at, due_soon_fraction=DUE_SOON_FRACTION, limit=limit, offset=offset
                )
        return [InboxItem(*row) for row in found]

    def queue_health(
        self, p: Principal, tenant: str | None = None, *, now: datetime | None = None
    ) -> list[QueueHealth]:
        """The approval queue's figures per tenant: of every tenant for a policy admin, of
        `p`'s own tenants otherwise (or of `tenant`, which must be one of those)."""
        at = utc_naive(now)
        with self._one_connection():
            mine = (
                sorted(self.policies.in_force(may_initialise=False).policy.tenants) if p.admin else p.tenants
            )
            if tenant is not None:
                if tenant not in mine:
                    raise UsageError(
                        f"'{p.user}' may not see the approval queue of tenant '{tenant}'",
                        fix="use one of: " + (", ".join(mine) or "(none)"),
                        code="forbidden",
                    )
                mine = [tenant]
            with self.store.connect(read_only=True) as con:
                found = {r["tenant"]: r for r in approval_queue.health(con, mine, at)}
        return [_health(name, found.get(name), at) for name in mine]

    def escalate_overdue(self, now: datetime | None = None) -> list[Escalation]:
        """Escalate, once, every pending approval past its SLA under the policy its run is bound
        to: an ``approval_escalated`` audit event (idempotent key), the queue row marked, and a
        notice to the escalation role's users, in one transaction per approval. The due time is
        data, so a restarted process escalates what came due while it was down and nothing
        twice; a second caller racing this one loses the row and skips it."""
        from warden.governance.notifications import holders

        at = utc_naive(now)
        done: list[Escalation] = []
        if not self.store.path.exists():  # a fresh state directory: nothing waits yet
            return done
        with self._one_connection():
            with self.store.connect(read_only=True) as con:
                due = approval_queue.overdue(con, at)
            for row in due:
                bound = self.policies.bound(row["policy_sha256"])
                role = row["escalate_to"] or row["required_role"]
                users = holders(bound, row["tenant"], role)
                key = f"{row['run_id']}:approval_escalated:{row['runbook_sha256']}"
                if not self._escalate_one(row, key, role, users, bound, at):
                    continue
                done.append(
                    Escalation(
                        run_id=row["run_id"],
                        root_run_id=row["root_run_id"],
                        tenant=row["tenant"],
                        required_role=row["required_role"],
                        escalate_to=role,
                        due_at=row["due_at"],
                        escalated_at=at,
                        notified=users,
                    )
                )
        return done

    def _escalate_one(
        self,
        row: dict[str, Any],
        key: str,
        role: str,
        users: list[str],
        bound: LoadedPolicy,
        at: datetime,
    ) -> bool:
        """One escalation in one transaction; False when another caller escalated it first. A
        transaction that loses a race (the row, or the tenant's audit chain) is retried."""
        from warden.governance.notifications import deliveries

        for attempt in range(8):
            try:
                with self.store.connect() as con:
                    if not approval_queue.mark_escalated(con, row["run_id"], at):
                        return False
                    audit.audit(
                        con,
                        run_id=row["run_id"],
                        root_run_id=row["root_run_id"],
                        tenant=row["tenant"],
                        actor="warden",
                        event="approval_escalated",
                        key=key,
                        payload={
                            "required_role": row["required_role"],
                            "escalate_to": role,
                            "requested_at": row["requested_at"].isoformat() + "Z",
                            "due_at": row["due_at"].isoformat() + "Z",
                            "sla_s": row["sla_s"],
                            "notified": users,
                            "policy_sha256": row["policy_sha256"],
                        },
                    )
                    notifications.enqueue(
                        con,
                        deliveries(
                            bound,
                            tenant=row["tenant"],
                            event="approval_escalated",
                            key=key,
                            users=users,
                            run_id=row["run_id"],
                            root_run_id=row["root_run_id"],
                            payload={**notice_payload(row), "escalate_to": role},
                        ),
                    )
                return True
            except Exception as exc:
                if not is_write_conflict(exc) or attempt == 7:
                    raise
                time.sleep(0.01 * (attempt + 1) * (1 + random.random()))
        return False

    def deliver_notifications(self, *, now: datetime | None = None, limit: int = 100) -> DeliveryReport:
        """Send the outbox's due notifications (at most `limit`): webhook and SMTP, retried with
        backoff, failures recorded; a server's loop calls this every few seconds."""
        from warden.service.notify import deliver

        if not self.store.path.exists():  # a fresh state directory: nothing to send
            return DeliveryReport()
        live: list[LoadedPolicy] = []

        def channels_for(tenant: str, sha: str | None) -> list[Notifications]:
            if not live:
                live.append(self.policies.live())
            options = []
            if tenant in live[0].policy.tenants:
                options.append(live[0].policy.tenants[tenant].notifications)
            if sha:
                bound = self.policies.bound(sha)
                if tenant in bound.policy.tenants:
                    options.append(bound.policy.tenants[tenant].notifications)
            return options

        return deliver(self.store, channels_for, at=utc_naive(now), limit=limit)

    def notifications(self, p: Principal, run_id: str) -> list[dict[str, Any]]:
        """The notifications about a run `p` may see, with their delivery state."""
        self._visible_run(p, run_id)
        with self.store.connect(read_only=True) as con:
            return notifications.of_run(con, run_id)

    def comment(self, p: Principal, run_id: str, text: str) -> Comment:
        """Add a comment to a run's thread (any member of its tenant may; audited)."""
        import uuid

        body = (text or "").strip()
        if not body:
            raise UsageError("a comment needs text", fix="write something")
        if len(body) > MAX_COMMENT_CHARS:
            raise UsageError(
                f"a comment is at most {MAX_COMMENT_CHARS} characters (this one has {len(body)})",
                fix="shorten it, or split it in two",
            )
        with self._one_connection():
            row = self._visible_run(p, run_id)
            comment_id = f"c-{uuid.uuid4().hex[:16]}"
            with self.store.connect() as con:
                added = comments.add_comment(
                    con,
                    comment_id=comment_id,
                    run_id=run_id,
                    root_run_id=row["root_run_id"],
                    tenant=row["tenant"],
                    author=p.user,
                    auth=p.auth,
                    text=body,
                )
                audit.audit(
                    con,
                    run_id=run_id,
                    root_run_id=row["root_run_id"],
                    tenant=row["tenant"],
                    actor=p.user,
                    event="comment_added",
                    key=f"{run_id}:comment_added:{comment_id}",
                    payload={"comment_id": comment_id, "text": body, "auth": p.auth},
                )
        return _comment(added)

    def comments(self, p: Principal, run_id: str) -> list[Comment]:
        """A run's comment thread, oldest first."""
        with self._one_connection():
            self._visible_run(p, run_id)
            with self.store.connect(read_only=True) as con:
                return [_comment(r) for r in comments.comments_of(con, run_id)]

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

    # --- what the pages read -----------------------------------------------------------------

    def passages(self, p: Principal, run_id: str, passage_ids: list[str]) -> list[dict[str, Any]]:
        """Passages (``<document prefix>#<index>``) of the documents the run's tree reads, for the
        citations a reviewer opens; ids of any other document are left out, as missing ones are."""
        wanted = list(dict.fromkeys(passage_ids))[:1000]
        with self._one_connection():
            row = self._visible_run(p, run_id)
            with self.store.connect(read_only=True) as con:
                allowed = set(documents.document_ids_of_run(con, row["root_run_id"]))
                found = documents.passages_of(con, wanted)
        return [r for r in found if r["document_id"] in allowed]

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
            ctx = guard_context(state, self._context(bound))  # type: ignore[arg-type]
            try:
                parsed = parse_text(text, source="edited runbook")
            except LoadError as exc:
                return load_error_report(exc, ctx)
            return validate_data(parsed, ctx)

    def report(self, p: Principal, run_id: str, fmt: str = "html") -> str:
        """`warden report`'s document of the run's tree (html, md or json), read through this
        service's store (a threaded server cannot open a second, read-only instance)."""
        from warden.investigate import Source, build_report, render

        if fmt not in ("html", "md", "json"):
            raise UsageError(f"unknown report format '{fmt}'", fix="use one of: html, md, json")
        with self._one_connection():
            self._visible_run(p, run_id)
            return render(build_report(Source(self.store.path, store=self.store), run_id), fmt)  # type: ignore[arg-type]

    def audit_export(self, p: Principal, run_id: str, fmt: str = "jsonl") -> str:
        """`warden audit RUN`'s export of the run tree's events (jsonl or csv), payloads redacted."""
        import io

        from warden.investigate import Source, export_records, write_csv, write_jsonl

        if fmt not in ("jsonl", "csv"):
            raise UsageError(f"unknown audit format '{fmt}'", fix="use one of: jsonl, csv")
        with self._one_connection():
            self._visible_run(p, run_id)
            records = export_records(Source(self.store.path, store=self.store), run_id)
        buffer = io.StringIO()
        (write_jsonl if fmt == "jsonl" else write_csv)(records, buffer)
        return buffer.getvalue()

    # --- policy ------------------------------------------------------------------------------

    def apply_policy(self, p: Principal, file: str | Path, reason: str | None = None) -> LoadedPolicy:
        """Put the policy in `file` in force (an administrator's audited act)."""
        return self.policies.apply(p, load_policy(file), reason)

    def kill_switch(
        self, p: Principal, tenant: str | None, *, engage: bool, reason: str | None
    ) -> LoadedPolicy:
        """Engage or release a kill switch (an administrator's audited act); running trees of
        the tenant stop before their next step, whatever policy they are bound to."""
        if engage and not (reason and reason.strip()):
            raise UsageError("engaging the kill switch needs a reason", fix="pass --reason TEXT")
        if not p.admin:
            raise UsageError(
                f"'{p.user}' may not change the policy in force", fix="ask a policy admin", code="forbidden"
            )
        return self.policies.with_kill_switch(p, tenant, engage, reason)


def _initial_state(run_id: str, tenant: str, requester: str, request: dict[str, Any]) -> RunState:
    return {
        "run_id": run_id,
        "root_run_id": run_id,
        "parent_run_id": None,
        "parent_step_id": None,
        "depth": 0,
        "tenant": tenant,
        "requester": requester,
        "document_paths": [request["document"]] if request.get("document") else [],
        "document_ids": list(request.get("document_ids") or []),
        "runbook": request["runbook"],
        "status": "running",
    }


def _comment(row: dict[str, Any]) -> Comment:
    return Comment(
        comment_id=row["comment_id"],
        run_id=row["run_id"],
        author=row["author"],
        auth=row["auth"],
        text=row["text"],
        created_at=row["created_at"],
    )


def _health(tenant: str, row: dict[str, Any] | None, at: datetime) -> QueueHealth:
    r = row or {}
    decided = int(r.get("decided") or 0)

    def rate(n: Any) -> float | None:
        return round(int(n or 0) / decided, 4) if decided else None

    def seconds(v: Any) -> float | None:
        return round(float(v), 3) if v is not None else None

    return QueueHealth(
        tenant=tenant,
        at=at,
        pending=int(r.get("pending") or 0),
        pending_by_age={name: int(r.get(name) or 0) for name, _ in approval_queue.AGE_BUCKETS},
        overdue=int(r.get("overdue") or 0),
        escalated_pending=int(r.get("escalated_pending") or 0),
        escalated_total=int(r.get("escalated_total") or 0),
        decided=decided,
        approved=int(r.get("approved") or 0),
        rejected=int(r.get("rejected") or 0),
        edited=int(r.get("edited") or 0),
        withdrawn=int(r.get("withdrawn") or 0),
        time_to_approve_p50_s=seconds(r.get("approve_p50_s")),
        time_to_approve_p95_s=seconds(r.get("approve_p95_s")),
        reject_rate=rate(r.get("rejected")),
        edit_rate=rate(r.get("edited")),
        sla_breaches=int(r.get("sla_breaches") or 0),
    )


def _diff_entry(f: dict[str, Any]) -> dict[str, Any]:
    keys = ("fingerprint", "finding_id", "run_id", "severity", "code", "title", "system_id", "data_category")
    return {**{k: f.get(k) for k in keys}, "triage": f.get("triage")}


def _decision_fix(code: str, run_id: str) -> str:
    if code == "authentication_required":
        return "sign in to the Warden server (or use an API token) and decide there"
    return f"see `warden review {run_id}`"
