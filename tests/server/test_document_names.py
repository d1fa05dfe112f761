"""Documents are stored once by their sha256 for every tenant, but a run is shown under the
names its own upload gave: the same bytes uploaded by Acme and by Globex under two names show
each tenant only its own name (API, pages, reports, the passages and the analysers' outputs),
and one tenant's two uploads of the same bytes under two names keep each run's own."""

from __future__ import annotations

import hashlib
import itertools
import os
from typing import Any

from tests.server.conftest import GLOBEX_RUNBOOK, NOTICE, Live, signed_in

_unique = itertools.count()


def _bytes() -> bytes:
    """The acme notice, unique to this test (the session's server keeps every document)."""
    return NOTICE.read_bytes() + f"\n\nNames marker {os.getpid()}-{next(_unique)}.\n".encode()


def _upload(live: Live, user: str, name: str, data: bytes) -> str:
    form = {"tenant": user.split("@")[1]}
    if form["tenant"] == "globex":
        form["runbook_yaml"] = GLOBEX_RUNBOOK.read_text()
    with live.client(user) as c:
        r = c.post("/api/runs", data=form, files={"file": (name, data)})
        assert r.status_code == 202, r.text
        run_id = str(r.json()["run_id"])
    live.settle(user, run_id)
    return run_id


def _everything_shown(live: Live, analyst: str, approver: str, run_id: str, data: bytes) -> dict[str, str]:
    """What the tenant's analyst (API) and approver (pages, downloads) are shown of the run."""
    passage = f"{hashlib.sha256(data).hexdigest()[:12]}%230"  # "#0", escaped
    seen: dict[str, str] = {}
    with live.client(analyst) as c:
        for path in ("/api/runs", f"/api/runs/{run_id}", f"/api/runs/{run_id}/tree"):
            r = c.get(path)
            assert r.status_code == 200, (path, r.text)
            seen[path] = r.text
    with signed_in(live, approver) as (c, _):
        for path in (
            "/inbox",
            "/runs",
            f"/runs/{run_id}",
            f"/runs/{run_id}/review",
            f"/runs/{run_id}/findings",
            f"/runs/{run_id}/passages/{passage}",
            f"/runs/{run_id}/report.md",
            f"/runs/{run_id}/report.html",
            f"/runs/{run_id}/report.json",
        ):
            r = c.get(path)
            assert r.status_code == 200, (path, r.text[:500])
            seen[path] = r.text
    return seen


def test_the_same_bytes_uploaded_by_two_tenants_show_each_only_its_own_name(live: Live) -> None:
    data = _bytes()
    acme_run = _upload(live, "ana@acme", "acme-secret-project-falcon.md", data)
    globex_run = _upload(live, "gil@globex", "globex-notice.md", data)

    globex = _everything_shown(live, "gil@globex", "gwen@globex", globex_run, data)
    acme = _everything_shown(live, "ana@acme", "dora@acme", acme_run, data)

    assert [where for where, text in globex.items() if "falcon" in text] == []
    assert [where for where, text in acme.items() if "globex-notice" in text] == []
    # each is named by its own upload where the run's documents are listed
    for where in (f"/api/runs/{globex_run}", f"/runs/{globex_run}/review", f"/runs/{globex_run}/report.md"):
        assert "globex-notice.md" in globex[where], where
    for where in (f"/api/runs/{acme_run}", f"/runs/{acme_run}/review", f"/runs/{acme_run}/report.md"):
        assert "acme-secret-project-falcon.md" in acme[where], where


def test_one_tenant_uploading_the_same_bytes_under_two_names_sees_each_runs_own_name(live: Live) -> None:
    data = _bytes()
    first = _upload(live, "ana@acme", "notice-2025.md", data)
    second = _upload(live, "ana@acme", "notice-2026-draft.md", data)
    with live.client("ana@acme") as c:
        listed: dict[str, Any] = {r["run_id"]: r for r in c.get("/api/runs").json()}
        details = {run: c.get(f"/api/runs/{run}").text for run in (first, second)}
    assert "notice-2025.md" in str(listed[first]) and "notice-2026-draft" not in str(listed[first])
    assert "notice-2026-draft.md" in str(listed[second]) and "notice-2025" not in str(listed[second])
    assert "notice-2025.md" in details[first] and "notice-2026-draft" not in details[first]
    assert "notice-2026-draft.md" in details[second] and "notice-2025" not in details[second]
    with signed_in(live, "dora@acme") as (c, _):
        reviews = {run: c.get(f"/runs/{run}/review").text for run in (first, second)}
        reports = {run: c.get(f"/runs/{run}/report.md").text for run in (first, second)}
    for run, own, other in (
        (first, "notice-2025.md", "notice-2026-draft"),
        (second, "notice-2026-draft.md", "notice-2025"),
    ):
        assert own in reviews[run] and other not in reviews[run], run
        assert own in reports[run] and other not in reports[run], run


def test_the_report_ropa_findings_and_transparency_of_a_shared_document_name_only_the_runs_own(
    live: Live,
) -> None:
    """The investigate paths (notebooks, `warden report`, `warden ropa`) read the run's names:
    the citations of its findings, its transparency rows and passages, its ROPA record."""
    from dataclasses import asdict

    from warden.documents.sets import display_name
    from warden.investigate import Source
    from warden.investigate.evidence import evidence_of, transparency
    from warden.investigate.findings import findings
    from warden.investigate.report import build_report
    from warden.investigate.ropa import build_ropa

    data = _bytes()
    acme_run = _upload(live, "ana@acme", "acme-secret-project-falcon.md", data)
    globex_run = _upload(live, "gil@globex", "globex-notice.md", data)
    # approved, the analysers read the document (as the run named it) and the child waits
    children = {}
    for run, approver in ((acme_run, "dora@acme"), (globex_run, "gwen@globex")):
        with live.client(approver) as c:
            r = c.post(f"/api/runs/{run}/decision", json={"decision": "approve", "role": "dpo"})
            assert r.status_code == 200, r.text
        nodes = live.settle(approver, run)
        (children[run],) = [n["run_id"] for n in nodes if n["status"] == "waiting_approval"]
    with signed_in(live, "gwen@globex") as (c, _):
        child_review = c.get(f"/runs/{children[globex_run]}/review").text
        child_api = c.get(f"/runs/{children[globex_run]}").text
    assert "falcon" not in child_review and "falcon" not in child_api
    assert "globex-notice.md" in child_review
    store = live.service.store
    source = Source(store.path, store=store)
    for run, own, other in (
        (globex_run, "globex-notice.md", "falcon"),
        (acme_run, "acme-secret-project-falcon.md", "globex-notice"),
    ):
        cited = [asdict(c) for f in findings(source, run) for c in evidence_of(source, run, f["finding_id"])]
        rows = transparency(source, run)
        shown = {
            "report": build_report(source, run),
            "ropa": build_ropa(source, run, []),
            "transparency": rows,
            "citations": cited,
        }
        assert [k for k, v in shown.items() if other in repr(v)] == [], run
        assert own in repr(shown["report"]["summary"]["documents"]) and own in repr(shown["ropa"]), run
        # an upload is stored under a generated prefix (shown without it: display_name)
        named = {r["document"] for r in rows} | {
            p["document_name"] for r in rows for p in r.get("passages") or []
        }
        assert rows and {display_name(n) for n in named} == {own}, run
