"""The pages a team works in: home, the inbox, the review page (steps with their citations, the
guard report, the diff, versions, comments; approve, reject, edit), upload, runs, the run page
with live progress, findings, downloads and queue health.

Every page calls the service with the signed-in principal (the service decides what it may see
and do: another tenant's run is NotFound, like a missing one); every POST checks the session's
CSRF token first. Document text, file names, runbooks and comments are untrusted: the templates
autoescape everything and no page carries inline script or style (the CSP forbids both).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

from warden.errors import UsageError, WardenError
from warden.server.identity import CSRF_FIELD, page_session, service_of
from warden.server.templating import templates
from warden.service import NotFound, RunRefused
from warden.service.accounts import Session
from warden.service.reading import SEVERITIES

__all__ = ["INBOX_PAGE", "PageSession", "router"]

router = APIRouter(include_in_schema=False)
INBOX_PAGE = 50
"""Approvals per inbox page (the oldest first; the next page is a link)."""
TERMINAL_OR_WAITING = {"completed", "failed", "rejected", "cancelled", "budget_exceeded", "timed_out"}


def require_session(request: Request) -> Session:
    """The signed-in session; without one the browser is sent to the sign-in form."""
    session = page_session(request)
    if session is None:
        raise HTTPException(303, "sign in first", headers={"Location": "/sign-in"})
    return session


PageSession = Annotated[Session, Depends(require_session)]


class CsrfRefused(WardenError):
    code = "csrf"


def check_csrf(request: Request, session: Session, token: str) -> None:
    if not service_of(request).accounts.check_csrf(session, token):
        raise CsrfRefused(
            "the form's CSRF token is missing or wrong: nothing was done", fix="reload the page"
        )


def page(request: Request, session: Session, name: str, status: int = 200, **context: Any) -> Response:
    p = session.principal
    base = {"me": p.user, "admin": p.admin, "csrf_token": session.csrf, "csrf_field": CSRF_FIELD}
    return templates.TemplateResponse(request, name, {**base, **context}, status_code=status)


def _workers(request: Request) -> Any:
    return request.app.state.workers


# --- home and inbox ---------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def home(request: Request, session: PageSession) -> Response:
    p = session.principal
    return page(request, session, "home.html", tenants={t: list(p.roles_in(t)) for t in p.tenants})


@router.get("/inbox", response_class=HTMLResponse)
def inbox(
    request: Request,
    session: PageSession,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    tenant: Annotated[str | None, Query(max_length=200)] = None,
    decided: Annotated[str | None, Query(max_length=200)] = None,
    decision: Annotated[str | None, Query(max_length=20)] = None,
    mark: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """The approvals the signed-in user may decide, oldest first, a page at a time; after a
    decision, a banner saying what this session decided and where the run is now."""
    service = service_of(request)
    items = service.inbox(session.principal, tenant=tenant, limit=INBOX_PAGE + 1, offset=offset)
    notice = _decided_notice(request, session, decided, decision, mark) if decided else None
    more = len(items) > INBOX_PAGE
    return page(
        request,
        session,
        "inbox.html",
        items=[i.to_dict() for i in items[:INBOX_PAGE]],
        offset=offset,
        next_offset=offset + INBOX_PAGE if more else None,
        prev_offset=max(0, offset - INBOX_PAGE) if offset else None,
        tenant=tenant,
        notice=notice,
    )


DECISION_VERBS = {"approve": "Approved", "edit": "Approved the edit of", "reject": "Rejected"}


def decision_mark(session: Session, run_id: str, kind: str) -> str:
    """What the redirect after a decision carries to say this session made it: keyed by the
    session's CSRF secret, so a crafted `/inbox?decided=...` link cannot announce a decision."""
    message = f"{run_id}\0{kind}".encode()
    return hmac.new(session.csrf.encode(), message, hashlib.sha256).hexdigest()[:32]


def _decided_notice(
    request: Request, session: Session, run_id: str, kind: str | None, mark: str | None
) -> dict[str, str] | None:
    """The banner after a decision, from the run's real state: none for a run this user does not
    see, one that still waits, or a decision this session did not make (a crafted link); else
    what was decided and the run's status now."""
    try:
        run = service_of(request).visible_run(session.principal, run_id)
    except NotFound:
        return None
    if kind not in DECISION_VERBS or not mark or run["status"] == "waiting_approval":
        return None
    if not hmac.compare_digest(mark, decision_mark(session, str(run["run_id"]), kind)):
        return None
    state = "it is being carried out" if run["status"] == "running" else f"it is now {run['status']}"
    return {"verb": DECISION_VERBS[kind], "run_id": str(run["run_id"]), "state": state}


# --- review and decisions ---------------------------------------------------------------------


def _diff_lines(diff: str | None) -> list[tuple[str, str]]:
    kinds = []
    for line in (diff or "").splitlines():
        if line.startswith(("+++", "---")):
            kind = "head"
        elif line.startswith("@@"):
            kind = "hunk"
        elif line.startswith("+"):
            kind = "add"
        elif line.startswith("-"):
            kind = "del"
        else:
            kind = "same"
        kinds.append((kind, line))
    return kinds


def _review_context(request: Request, session: Session, run_id: str) -> dict[str, Any]:
    from warden.runbooks.load import dump_runbook, runbook_from_data

    service = service_of(request)
    p = session.principal
    approval = service.review(p, run_id)
    steps = approval["runbook"].get("steps") or []
    cites = [c for s in steps for c in (s.get("cites") or [])]
    passages = {r["passage_id"]: r for r in service.passages(p, run_id, cites)} if cites else {}
    draft_yaml = dump_runbook(runbook_from_data(approval["runbook"], source="draft"))
    return {
        "run_id": run_id,
        "approval": approval,
        "steps": steps,
        "passages": passages,
        "report": approval.get("report") or {},
        "diff": _diff_lines(approval.get("diff")),
        "versions": [v.to_dict() for v in service.versions(p, run_id)],
        "comments": [c.to_dict() for c in service.comments(p, run_id)],
        "draft_yaml": draft_yaml,
        "edit_yaml": draft_yaml,
        "edit_report": None,
        "edit_lines": [],
        "edit_unplaced": [],
        "error": None,
    }


@router.get("/runs/{run_id}/review", response_class=HTMLResponse)
def review(request: Request, session: PageSession, run_id: str) -> Response:
    """The draft an approver decides on; a run that no longer waits shows its run page."""
    row = service_of(request).visible_run(session.principal, run_id)
    if row["status"] != "waiting_approval":
        return RedirectResponse(f"/runs/{run_id}", status_code=303)
    try:
        context = _review_context(request, session, run_id)
    except RunRefused:  # decided meanwhile
        return RedirectResponse(f"/runs/{run_id}", status_code=303)
    return page(request, session, "review.html", **context)


def _claim_and_carry_out(
    request: Request,
    session: Session,
    run_id: str,
    kind: str,
    *,
    role: str,
    comment: str | None,
    sha256: str | None,
    edited: Any = None,
) -> Response:
    service = service_of(request)
    claimed = service.claim_decision(
        session.principal,
        run_id,
        "reject" if kind == "reject" else "approve",
        role=role,
        comment=comment or None,
        edited_runbook=edited,
        reviewed_sha256=sha256 or None,
    )
    _workers(request).submit(run_id, lambda: service.carry_out(claimed))
    mark = decision_mark(session, run_id, kind)
    return RedirectResponse(f"/inbox?decided={run_id}&decision={kind}&mark={mark}", status_code=303)


Field = Annotated[str, Form(max_length=4000)]


@router.post("/runs/{run_id}/approve")
def approve(
    request: Request,
    session: PageSession,
    run_id: str,
    csrf_token: Field = "",
    role: Field = "",
    runbook_sha256: Field = "",
    comment: Field = "",
) -> Response:
    """One click: approve the draft as reviewed (its hash is checked, so a changed draft is refused)."""
    check_csrf(request, session, csrf_token)
    return _claim_and_carry_out(
        request, session, run_id, "approve", role=role, comment=comment, sha256=runbook_sha256
    )


@router.post("/runs/{run_id}/reject")
def reject(
    request: Request,
    session: PageSession,
    run_id: str,
    csrf_token: Field = "",
    role: Field = "",
    runbook_sha256: Field = "",
    reason: Field = "",
) -> Response:
    check_csrf(request, session, csrf_token)
    if not reason.strip():
        raise UsageError("a rejection needs a reason", fix="write why in the reason field")
    return _claim_and_carry_out(
        request, session, run_id, "reject", role=role, comment=reason, sha256=runbook_sha256
    )


@router.post("/runs/{run_id}/edit", response_class=HTMLResponse)
def edit(
    request: Request,
    session: PageSession,
    run_id: str,
    csrf_token: Field = "",
    role: Field = "",
    runbook_sha256: Field = "",
    comment: Field = "",
    action: Annotated[str, Form(max_length=20)] = "validate",
    runbook_yaml: Annotated[str, Form(max_length=1_000_000)] = "",
) -> Response:
    """Validate the edited YAML (every save: the guard's report, each issue at its line) and, when
    asked and it passes, approve the edit."""
    from warden.runbooks.load import parse_runbook

    check_csrf(request, session, csrf_token)
    service = service_of(request)
    report = service.check_edit(session.principal, run_id, runbook_yaml)
    if action == "approve" and report.ok:
        edited = parse_runbook(runbook_yaml, source="edited runbook")
        return _claim_and_carry_out(
            request, session, run_id, "edit", role=role, comment=comment, sha256=runbook_sha256, edited=edited
        )
    context = _review_context(request, session, run_id)
    by_line: dict[int, list[Any]] = {}
    for issue in report.issues:
        by_line.setdefault(issue.line or 0, []).append(issue)
    context.update(
        edit_yaml=runbook_yaml,
        edit_report=report.model_dump(mode="json"),
        edit_lines=[
            (n, text, by_line.get(n, [])) for n, text in enumerate(runbook_yaml.splitlines() or [""], start=1)
        ],
        edit_unplaced=by_line.get(0, []),
    )
    return page(request, session, "review.html", status=200 if report.ok else 422, **context)


@router.post("/runs/{run_id}/comments")
def add_comment(
    request: Request,
    session: PageSession,
    run_id: str,
    csrf_token: Field = "",
    text: Annotated[str, Form(max_length=20_000)] = "",
) -> Response:
    check_csrf(request, session, csrf_token)
    service = service_of(request)
    service.comment(session.principal, run_id, text)
    waiting = service.visible_run(session.principal, run_id)["status"] == "waiting_approval"
    return RedirectResponse(
        f"/runs/{run_id}/review#comments" if waiting else f"/runs/{run_id}", status_code=303
    )


@router.get("/runs/{run_id}/passages/{passage_id}", response_class=HTMLResponse)
def passage(request: Request, session: PageSession, run_id: str, passage_id: str) -> Response:
    """The text of one passage a step cites (of a document the run's tree reads)."""
    found = service_of(request).passages(session.principal, run_id, [passage_id])
    if not found:
        raise UsageError(f"no passage '{passage_id}' in the documents of run '{run_id}'", code="unknown_run")
    return page(request, session, "passage.html", run_id=run_id, passage=found[0])


# --- upload and runs --------------------------------------------------------------------------


def _builtin_runbooks() -> list[str]:
    from importlib import resources

    folder = resources.files("warden_runbooks")
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def _my_tenants(session: Session) -> list[str]:
    p = session.principal
    return [t for t in p.tenants if p.roles_in(t)]


@router.get("/upload", response_class=HTMLResponse)
def upload_form(request: Request, session: PageSession) -> Response:
    return page(
        request,
        session,
        "upload.html",
        tenants=_my_tenants(session),
        runbooks=_builtin_runbooks(),
        error=None,
    )


@router.post("/upload")
def upload(
    request: Request,
    session: PageSession,
    file: Annotated[list[UploadFile], File()],
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    tenant: Annotated[str, Form(max_length=200)] = "",
    runbook: Annotated[str, Form(max_length=200)] = "",
    runbook_file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Store the notice (one or several documents, read as one notice) for one of my tenants and
    start its analysis in the background."""
    from warden.service.starting import builtin_runbook

    check_csrf(request, session, csrf_token)
    service = service_of(request)
    p = session.principal
    runbook_path = None
    runbook_text = None
    if runbook_file is not None and runbook_file.filename:
        raw = runbook_file.file.read(1_000_001)
        if len(raw) > 1_000_000:
            raise UsageError("the runbook is over 1 MB", fix="upload the runbook file itself")
        runbook_text = raw.decode("utf-8", errors="replace")
    elif runbook:
        if runbook not in _builtin_runbooks():
            raise UsageError(f"no built-in runbook '{runbook}'", fix="choose one from the list")
        runbook_path = builtin_runbook(runbook)
    stored = service.upload_set(p, tenant, [(f.filename or "", f.file) for f in file])
    try:
        submitted = service.submit(p, stored, tenant=tenant, runbook=runbook_path, runbook_text=runbook_text)
    except BaseException:
        for path in stored:
            path.unlink(missing_ok=True)
        raise
    _workers(request).submit(submitted.run_id, lambda: service.proceed(submitted))
    return RedirectResponse(f"/runs/{submitted.run_id}", status_code=303)


@router.get("/runs", response_class=HTMLResponse)
def runs_page(
    request: Request,
    session: PageSession,
    status: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    rows = service_of(request).runs(session.principal, status=status or None, limit=200)
    return page(request, session, "runs.html", runs=rows, status_filter=status)


def progress_snapshot(nodes: list[dict[str, Any]]) -> dict[str, Any]:
    """What the run page's live view shows of a tree (sent as server-sent events)."""
    runs = [
        {
            "run_id": n["run_id"],
            "status": n["status"],
            "cost": f"${float(n.get('cost_usd') or 0):.2f}",
            "duration": f"{float(n.get('duration_s') or 0):.1f}s",
            "steps": [{"step_id": s["step_id"], "status": s["status"]} for s in n.get("steps") or []],
        }
        for n in nodes
    ]
    statuses = {n["status"] for n in nodes}
    settled = "waiting_approval" in statuses or "running" not in statuses
    digest = ";".join(f"{r['run_id']}={r['status']}" for r in runs)
    return {"runs": runs, "settled": settled, "digest": digest}


@router.get("/runs/{run_id}", response_class=HTMLResponse)
def run_page(request: Request, session: PageSession, run_id: str) -> Response:
    """The tree of the run: status, steps, costs and timings, live while it runs."""
    service = service_of(request)
    row = service.visible_run(session.principal, run_id)
    nodes = service.tree(session.principal, run_id)
    snapshot = progress_snapshot(nodes)
    return page(
        request,
        session,
        "run.html",
        run=row,
        nodes=nodes,
        digest=snapshot["digest"],
        settled=snapshot["settled"],
        waiting=[n["run_id"] for n in nodes if n["status"] == "waiting_approval"],
    )


@router.get("/runs/{run_id}/findings", response_class=HTMLResponse)
def findings_page(
    request: Request,
    session: PageSession,
    run_id: str,
    min_severity: Annotated[str, Query(max_length=16)] = "info",
    category: Annotated[str | None, Query(max_length=64)] = None,
    system: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    service = service_of(request)
    row = service.visible_run(session.principal, run_id)
    everything = service.findings(session.principal, run_id)
    shown = service.findings(session.principal, run_id, min_severity=min_severity, category=category or None)
    if system:
        shown = [f for f in shown if f.get("system_id") == system]
    return page(
        request,
        session,
        "findings.html",
        run=row,
        findings=shown,
        total=len(everything),
        severities=SEVERITIES,
        categories=sorted({f["category"] for f in everything if f.get("category")}),
        systems=sorted({f["system_id"] for f in everything if f.get("system_id")}),
        min_severity=min_severity,
        category=category or "",
        system=system or "",
    )


# --- downloads --------------------------------------------------------------------------------


def _download(text: str, filename: str, media_type: str) -> Response:
    return Response(
        text.encode("utf-8"),
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _safe_name(run_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-._" else "_" for c in run_id)


@router.get("/runs/{run_id}/report.{fmt}")
def report_download(request: Request, session: PageSession, run_id: str, fmt: str) -> Response:
    """The HTML (or Markdown, JSON) report of the run's tree, as a download."""
    text = service_of(request).report(session.principal, run_id, fmt)
    media = {"html": "text/html", "md": "text/markdown", "json": "application/json"}[fmt]
    return _download(text, f"warden-report-{_safe_name(run_id)}.{fmt}", f"{media}; charset=utf-8")


@router.get("/runs/{run_id}/audit.{fmt}")
def audit_download(request: Request, session: PageSession, run_id: str, fmt: str) -> Response:
    """The audit export of the run's tree (JSON lines or CSV), as a download."""
    text = service_of(request).audit_export(session.principal, run_id, fmt)
    media = "application/x-ndjson" if fmt == "jsonl" else "text/csv"
    return _download(text, f"warden-audit-{_safe_name(run_id)}.{fmt}", f"{media}; charset=utf-8")


# --- queue health -----------------------------------------------------------------------------


@router.get("/admin/queue", response_class=HTMLResponse)
def queue_page(request: Request, session: PageSession) -> Response:
    """Queue health per tenant (every tenant for a policy admin)."""
    health = [h.to_dict() for h in service_of(request).queue_health(session.principal)]
    return page(request, session, "queue.html", health=health)


@router.get("/robots.txt", response_class=PlainTextResponse)
def robots() -> str:
    return "User-agent: *\nDisallow: /\n"
