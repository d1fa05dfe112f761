"""The JSON API under /api: bearer tokens on every route but the token exchange.

Each route authenticates, calls one service operation and shapes its answer; the service
decides what the principal may see and do (a run of another tenant is NotFound, as a missing
one is). Work that runs the graph goes to the background workers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile

from warden.errors import UsageError
from warden.server.errors import error_responses
from warden.server.identity import ApiPrincipal, client_of, service_of
from warden.server.models import (
    RUN_KEYS,
    ApprovalView,
    CancelRequest,
    DecisionOut,
    DecisionRequest,
    Me,
    RunDetail,
    RunStarted,
    RunSummary,
    TokenOut,
    TokenRequest,
    TreeNode,
)
from warden.service import RunRefused
from warden.service.accounts import parse_expiry

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["api"])

AUTH = error_responses(401)
RUN = error_responses(401, 404)
WAIT = Annotated[
    float,
    Query(ge=0, le=30, description="Wait up to this many seconds for the background work before answering."),
]


def _summary(row: dict[str, Any]) -> RunSummary:
    return RunSummary.model_validate({k: row.get(k) for k in RUN_KEYS})


def _workers(request: Request) -> Any:
    return request.app.state.workers


@router.post("/tokens", response_model=TokenOut, responses=error_responses(401, 429))
def issue_token(body: TokenRequest, request: Request) -> TokenOut:
    """Exchange a user's password for an API token (30 days; throttled like a sign-in)."""
    # one call: the token is issued only while the password checked is still the account's
    issued = service_of(request).accounts.exchange_password(
        body.user, body.password, client=client_of(request), expires=parse_expiry("30d")
    )
    return TokenOut(token=issued.secret, token_id=issued.token_id, expires_at=issued.expires_at)


@router.get("/me", response_model=Me, responses=AUTH)
def me(p: ApiPrincipal) -> Me:
    """Who the token stands for, and their tenants and roles under the policy in force."""
    return Me(user=p.user, auth=p.auth, admin=p.admin, tenants={t: list(p.roles_in(t)) for t in p.tenants})


@router.post(
    "/runs",
    response_model=RunStarted,
    status_code=202,
    responses=error_responses(400, 401, 403, 413, 415, 422),
)
def start_run(
    request: Request,
    p: ApiPrincipal,
    file: Annotated[
        list[UploadFile],
        File(
            description="The notice: PDF, HTML, DOCX, Markdown or text. Several `file` parts are one "
            "notice (a document set: a product notice and the main policy it refers to)"
        ),
    ],
    tenant: Annotated[str, Form(min_length=1, max_length=200)],
    runbook: Annotated[str | None, Form(max_length=200, description="A built-in runbook's name")] = None,
    runbook_yaml: Annotated[
        str | None, Form(max_length=1_000_000, description="Or the root runbook itself, as YAML text")
    ] = None,
    wait: WAIT = 0,
) -> RunStarted:
    """Upload a document (or a set of documents read as one notice) for one of your tenants and
    start its analysis in the background."""
    from warden.service.starting import builtin_runbook

    service = service_of(request)
    runbook_path = None
    if runbook:
        if not runbook.replace("-", "").replace("_", "").isalnum():
            raise UsageError(f"no built-in runbook '{runbook}'", fix="name a runbook under runbooks/")
        runbook_path = builtin_runbook(runbook)
        if not runbook_path.is_file():
            raise UsageError(f"no built-in runbook '{runbook}'", fix="name a runbook under runbooks/")
    stored = service.upload_set(p, tenant, [(f.filename or "", f.file) for f in file])
    try:
        submitted = service.submit(p, stored, tenant=tenant, runbook=runbook_path, runbook_text=runbook_yaml)
    except BaseException:
        for path in stored:
            path.unlink(missing_ok=True)
        raise
    workers = _workers(request)
    workers.submit(submitted.run_id, lambda: service.proceed(submitted))
    workers.wait(submitted.run_id, wait)
    return RunStarted(run_id=submitted.run_id, status=service.visible_run(p, submitted.run_id)["status"])


@router.get("/runs", response_model=list[RunSummary], responses=error_responses(400, 401))
def list_runs(
    request: Request,
    p: ApiPrincipal,
    status: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int | None, Query(ge=1, le=10_000)] = None,
    since: Annotated[datetime | None, Query(description="Only runs created since (UTC)")] = None,
) -> list[RunSummary]:
    """Runs of your tenants, newest first (the fields of `warden runs --json`); an aware `since`
    is converted to UTC (one off the calendar there is a 400 `usage`)."""
    rows = service_of(request).runs(p, status=status, limit=limit, since=since)
    return [_summary(r) for r in rows]


@router.get("/runs/{run_id}", response_model=RunDetail, responses=RUN)
def get_run(request: Request, p: ApiPrincipal, run_id: str) -> RunDetail:
    """A run, with its pending approval (draft, guard report, estimate, diff) while it waits."""
    service = service_of(request)
    row = service.visible_run(p, run_id)
    approval = None
    if row["status"] == "waiting_approval":
        try:
            approval = ApprovalView(**service.review(p, run_id))
        except RunRefused:  # decided meanwhile
            row = service.visible_run(p, run_id)
    return RunDetail(run=_summary(row), approval=approval)


@router.post(
    "/runs/{run_id}/decision",
    response_model=DecisionOut,
    responses=error_responses(400, 401, 403, 404, 409, 422),
)
def decide(
    request: Request, p: ApiPrincipal, run_id: str, body: DecisionRequest, wait: WAIT = 0
) -> DecisionOut:
    """Approve, reject (with a reason) or approve an edited runbook; the decision is claimed at
    once (of concurrent deciders one wins, the others get 409) and carried out in the background."""
    from warden.runbooks.load import parse_runbook, runbook_from_data

    service = service_of(request)
    edited = None
    if body.decision == "edit":
        if body.runbook is None:
            raise UsageError(
                "an edit needs the edited runbook", fix="send it as `runbook` (YAML text or an object)"
            )
        edited = (
            parse_runbook(body.runbook, source="runbook")
            if isinstance(body.runbook, str)
            else runbook_from_data(body.runbook, source="runbook")
        )
    comment = body.reason if body.decision == "reject" else body.comment
    if body.decision == "reject" and not (comment and comment.strip()):
        raise UsageError("a rejection needs a reason", fix="send `reason`")
    claimed = service.claim_decision(
        p,
        run_id,
        "reject" if body.decision == "reject" else "approve",
        role=body.role,
        comment=comment,
        edited_runbook=edited,
        reviewed_sha256=body.runbook_sha256,
    )
    workers = _workers(request)
    workers.submit(run_id, lambda: service.carry_out(claimed))
    workers.wait(run_id, wait)
    status = service.visible_run(p, run_id)["status"]
    return DecisionOut(run_id=run_id, decision=body.decision, status=status)


@router.post(
    "/runs/{run_id}/cancel", response_model=RunStarted, responses=error_responses(400, 401, 403, 404, 409)
)
def cancel(request: Request, p: ApiPrincipal, run_id: str, body: CancelRequest) -> RunStarted:
    """Withdraw a waiting run (its requester or an approver may): its whole tree stops."""
    outcome = service_of(request).cancel(p, run_id, body.reason)
    return RunStarted(run_id=outcome.root_run_id, status=outcome.status)


@router.get(
    "/runs/{run_id}/findings", response_model=list[dict[str, Any]], responses=error_responses(400, 401, 404)
)
def findings(
    request: Request,
    p: ApiPrincipal,
    run_id: str,
    min_severity: Annotated[str, Query(max_length=16)] = "info",
    category: Annotated[str | None, Query(max_length=64)] = None,
    hide_suppressed: bool = False,
) -> list[dict[str, Any]]:
    """Findings of the run and every run below it, most severe first, with their evidence and
    triage; `hide_suppressed` leaves out those a triage suppresses."""
    return service_of(request).findings(
        p, run_id, min_severity=min_severity, category=category, hide_suppressed=hide_suppressed
    )


@router.get("/runs/{run_id}/tree", response_model=list[TreeNode], responses=RUN)
def tree(request: Request, p: ApiPrincipal, run_id: str) -> list[TreeNode]:
    """Every run of the tree, parents first, each with its steps, costs and timings."""
    return [TreeNode(**m) for m in service_of(request).tree(p, run_id)]
