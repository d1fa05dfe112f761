"""The pages in a real browser: Playwright for Python driving Debian's Chromium (headless) against
a live server on loopback. An analyst uploads the bundled notice and an approver approves root and
child from the inbox and reads the findings; an invalid edit shows its error at its line; an
overdue approval shows as escalated and the loopback SMTP server gets the mail; a Globex user sees
nothing of Acme's; a hostile notice runs no script in any page.

Screenshots of the inbox and the review page are saved under tests/server/artifacts/ (or
$WARDEN_ARTIFACTS). No browser is ever downloaded: the tests use /usr/bin/chromium or skip.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.server.conftest import NOTICE, PASSWORD, Live, serving

from warden.server import create_app

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="Debian's Chromium is not at /usr/bin/chromium (apt-get install chromium); "
    "the browser tests never download a browser",
)
ARTIFACTS = Path(os.environ.get("WARDEN_ARTIFACTS") or Path(__file__).parent / "artifacts")
CSP = "default-src 'self'; script-src 'self'; style-src 'self'"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        launched = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        yield launched
        launched.close()


@dataclass
class Watch:
    """What a page did that it must not: dialogs opened, console errors, responses without the CSP."""

    dialogs: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    no_csp: list[str] = field(default_factory=list)

    def clean(self) -> bool:
        return not self.dialogs and not self.console and not self.no_csp


def open_page(browser: Any, base: str, user: str) -> tuple[Any, Watch]:
    """A fresh browser context signed in as `user`, watched for dialogs, errors and missing CSPs."""
    context = browser.new_context(base_url=base, viewport={"width": 1360, "height": 900})
    page = context.new_page()
    watch = Watch()

    def on_dialog(dialog: Any) -> None:
        watch.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def on_response(response: Any) -> None:
        if response.url.startswith(base) and CSP not in (
            response.headers.get("content-security-policy") or ""
        ):
            watch.no_csp.append(response.url)

    page.on("dialog", on_dialog)

    def on_console(message: Any) -> None:
        # a page answered 4xx on purpose logs "Failed to load resource"; anything else (a script
        # error, a CSP refusal "Refused to execute inline script ...") counts
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            watch.console.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda e: watch.console.append(str(e)))
    page.on("response", on_response)
    page.goto("/sign-in")
    page.fill("input[name=user]", user)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/$"))
    return page, watch


def until(page: Any, url: str, ready: Callable[[Any], bool], timeout_s: float = 60) -> None:
    """Load `url` until `ready(page)` (a server-rendered page shows background work when reloaded)."""
    deadline = time.monotonic() + timeout_s
    while True:
        page.goto(url)
        if ready(page):
            return
        assert time.monotonic() < deadline, f"{url} never became ready"
        time.sleep(0.3)


def shot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    return path


def upload(page: Any, notice: Path, name: str | None = None, runbook: str | None = None) -> str:
    """Upload `notice` (and a runbook) through the upload page; the run id of the run page it
    lands on."""
    page.goto("/upload")
    page.select_option("#tenant", "acme")
    if runbook is not None:
        page.set_input_files(
            "input[name=runbook_file]",
            files=[{"name": "runbook.yaml", "mimeType": "application/yaml", "buffer": runbook.encode()}],
        )
    page.set_input_files(
        "#file",
        files=[{"name": name or notice.name, "mimeType": "text/markdown", "buffer": notice.read_bytes()}],
    )
    page.click("#start")
    page.wait_for_url(re.compile(r"/runs/run-[0-9a-f]+$"))
    return str(page.url.rsplit("/", 1)[1])


def inbox_rows(page: Any) -> list[str]:
    return [
        str(r) for r in page.locator("table.inbox tbody tr").evaluate_all("rs => rs.map(r => r.dataset.run)")
    ]


# --- the flow ---------------------------------------------------------------------------------


def test_analyst_uploads_approver_approves_root_then_child_from_the_inbox_and_sees_findings(
    live: Live, browser: Any
) -> None:
    ana, ana_watch = open_page(browser, live.url, "ana@acme")
    root = upload(ana, NOTICE)
    # the run page follows the analysis live (server-sent events) until it waits for approval
    ana.wait_for_selector(f'section.node[data-run="{root}"] [data-field=run-status]:text("waiting_approval")')
    assert ana.locator("#live-state").inner_text() == "Settled"

    dora, dora_watch = open_page(browser, live.url, "dora@acme")
    until(dora, "/inbox", lambda p: root in inbox_rows(p))
    row = dora.locator(f'tr[data-run="{root}"]')
    assert "notice.md" in row.inner_text() and "ana@acme" in row.inner_text()
    assert row.locator(".badge.sla").inner_text() == "ok"
    assert row.locator(".badge.guard").inner_text() == "passed"
    assert "$0.05" in row.inner_text()
    shot(dora, "inbox.png")

    dora.click(f'tr[data-run="{root}"] a[href$="/review"] >> nth=0')
    dora.wait_for_selector("#steps")
    assert dora.locator("#guard .badge.ok").inner_text() == "passed"
    assert dora.locator("table.steps tbody tr").count() == 4
    # the diff against the last approved version (none yet when this test runs first)
    diff = dora.locator("#diff").inner_text()
    assert "+++ draft" in diff or "No changes: the draft is the approved version" in diff
    dora.fill("#comment-text", "Looks right; approving the plan.")
    dora.click("#add-comment")
    dora.wait_for_selector("article.comment")
    assert "approving the plan" in dora.locator("#comments").inner_text()
    shot(dora, "review-root.png")

    dora.goto("/inbox")
    dora.click(f'[data-approve="{root}"]')
    dora.wait_for_url(re.compile(r"/inbox\?decided="))
    assert "Approved run" in dora.locator("p.notice").inner_text()
    child = f"{root}.checks"
    until(dora, "/inbox", lambda p: child in inbox_rows(p) and root not in inbox_rows(p))
    assert dora.locator(f'tr[data-run="{child}"]').locator("text=child").count() >= 1

    dora.goto(f"/runs/{child}/review")
    cites = dora.locator("details.cite")
    assert cites.count() > 0
    cites.first.locator("summary").click()  # a cited passage opens its text
    assert cites.first.locator("blockquote.passage").inner_text().strip()
    shot(dora, "review.png")

    dora.goto("/inbox")
    dora.click(f'[data-approve="{child}"]')
    dora.wait_for_url(re.compile(r"/inbox\?decided="))
    # the run page follows the carried-out decision live, reloading itself once the tree settles
    dora.goto(f"/runs/{root}")
    dora.wait_for_selector(
        f'section.node[data-run="{child}"] [data-field=run-status]:text("completed")', timeout=60_000
    )

    dora.goto(f"/runs/{root}/findings")
    total = dora.locator("article.finding").count()
    assert total > 0
    assert dora.locator("article.finding .badge.sev").first.inner_text() == "critical"
    dora.select_option("select[name=min_severity]", "high")
    dora.click("#filter")
    dora.wait_for_url(re.compile(r"min_severity=high"))
    assert 0 < dora.locator("article.finding").count() < total
    dora.locator("article.finding details summary").first.click()
    assert dora.locator("article.finding ul.evidence li").first.is_visible()
    shot(dora, "findings.png")

    with dora.expect_download() as download:
        dora.goto(f"/runs/{root}")
        dora.click(f'a[href="/runs/{root}/report.html"]')
    assert download.value.suggested_filename == f"warden-report-{root}.html"
    assert ana_watch.clean(), ana_watch
    assert dora_watch.clean(), dora_watch
    ana.context.close()
    dora.context.close()


def test_an_invalid_edit_shows_its_error_at_its_line_and_a_valid_edit_is_approved(
    live: Live, browser: Any
) -> None:
    run = live.waiting_run()
    dora, watch = open_page(browser, live.url, "dora@acme")
    dora.goto(f"/runs/{run}/review")
    draft = dora.locator("#runbook-yaml").input_value()
    lines = draft.splitlines()
    at = next(i for i, ln in enumerate(lines, start=1) if ln == "tenant: acme")
    broken = [f"{ln}: oops" if n == at else ln for n, ln in enumerate(lines, start=1)]
    dora.fill("#runbook-yaml", "\n".join(broken) + "\n")
    dora.click("#validate")
    dora.wait_for_selector("#edit-report")
    assert "fails the guard" in dora.locator("#edit-report p.error").inner_text()
    marked = dora.locator("ol.yaml li.has-issue")
    assert marked.count() == 1
    line = int(marked.first.get_attribute("data-line") or 0)
    assert line == at, (line, at)  # "mapping values are not allowed here", at that line
    assert f"line {line}:" in marked.first.inner_text() and "load_error" in marked.first.inner_text()
    assert dora.locator("#runbook-yaml").input_value().startswith(broken[0])  # the edit is kept

    # a schema error points at its key's line
    wrong = [ln.replace("max_cost_usd: 5.0", "max_cost_usd: lots") for ln in lines]
    at = next(i for i, ln in enumerate(wrong, start=1) if "max_cost_usd: lots" in ln)
    dora.fill("#runbook-yaml", "\n".join(wrong) + "\n")
    dora.click("#validate")
    dora.wait_for_selector(f'ol.yaml li.has-issue[data-line="{at}"]')
    shot(dora, "review-edit-error.png")

    edited = "\n".join(ln.replace("max_cost_usd: 5.0", "max_cost_usd: 4.0") for ln in lines) + "\n"
    dora.fill("#runbook-yaml", edited)
    dora.click("#approve-edit")
    dora.wait_for_url(re.compile(r"/inbox\?decided="))
    assert watch.clean(), watch
    live.settle("dora@acme", run)  # the edit is carried out in the background
    with live.service.store.connect(read_only=True) as con:
        from warden.store import approvals

        rows = [a for a in approvals.approvals_of_tree(con, run) if a["run_id"] == run]
    assert [r["decision"] for r in rows] == ["edit"]
    dora.context.close()


def test_a_globex_user_sees_none_of_acmes_runs(live: Live, browser: Any) -> None:
    acme_run = live.waiting_run()
    gwen, watch = open_page(browser, live.url, "gwen@globex")
    gwen.goto("/inbox")
    assert acme_run not in inbox_rows(gwen)
    gwen.goto("/runs")
    assert acme_run not in gwen.content() and "acme" not in gwen.locator("main").inner_text()
    for path in (
        f"/runs/{acme_run}",
        f"/runs/{acme_run}/review",
        f"/runs/{acme_run}/findings",
        f"/runs/{acme_run}/events",
        f"/runs/{acme_run}/report.html",
        f"/runs/{acme_run}/audit.jsonl",
        f"/runs/{acme_run}/passages/x%230",
    ):
        response = gwen.request.get(path)
        missing = gwen.request.get(path.replace(acme_run, "run-000000000000"))
        assert response.status in (401, 404) and response.status == missing.status, path
        # another tenant's run answers byte for byte like a run that does not exist
        assert response.text().replace(acme_run, "RUN") == missing.text().replace("run-000000000000", "RUN")
        assert "acme" not in response.text().replace(acme_run, "RUN")
    gwen.goto(f"/runs/{acme_run}/review")
    assert "Not found" in gwen.locator("h1").inner_text()
    # and a decision posted with gwen's own session and CSRF token is refused alike
    token = gwen.locator("input[name=csrf_token]").first.get_attribute("value")
    refused = gwen.request.post(f"/runs/{acme_run}/approve", form={"csrf_token": token or "", "role": "dpo"})
    assert refused.status == 404
    assert watch.dialogs == [] and watch.no_csp == []
    gwen.context.close()


# --- untrusted document text ------------------------------------------------------------------

HOSTILE_LINES = (
    '# Acme <img src=x onerror="window.__pwned=1;alert(1)"> Privacy Notice',
    "",
    "<script>window.__pwned=2;alert(2)</script>",
    "",
    "Questions? [Write to us](javascript:window.__pwned=3;alert(3)) or "
    '<a href="javascript:alert(4)" onclick="alert(5)">click here</a> <svg onload="alert(6)"></svg>',
    "",
)


def hostile_runbook() -> str:
    import yaml

    from warden.service.starting import builtin_runbook

    data = yaml.safe_load(builtin_runbook("privacy-policy-review").read_text(encoding="utf-8"))
    markup = " ".join(HOSTILE_LINES[i] for i in (0, 2, 4)).lstrip("# ")
    data["description"] = markup
    data["steps"][0]["description"] = markup
    return str(yaml.safe_dump(data, sort_keys=False))


def hostile_notice(folder: Path) -> Path:
    text = NOTICE.read_text(encoding="utf-8").split("\n", 1)[1]  # the notice, under a hostile title
    path = folder / "hostile.md"
    path.write_text("\n".join(HOSTILE_LINES) + text, encoding="utf-8")
    return path


def test_a_hostile_notice_runs_no_script_in_any_page(live: Live, browser: Any, tmp_path: Path) -> None:
    notice = hostile_notice(tmp_path)
    ana, ana_watch = open_page(browser, live.url, "ana@acme")
    # the document loaders strip markup from a notice's text themselves, so the raw markup also
    # comes in where nothing strips it: the runbook's own text, the file name and a comment
    root = upload(ana, notice, name="<img src=x onerror=alert(7)>.md", runbook=hostile_runbook())
    ana.wait_for_selector(f'section.node[data-run="{root}"] [data-field=run-status]:text("waiting_approval")')
    dora, watch = open_page(browser, live.url, "dora@acme")
    dora.goto(f"/runs/{root}/review")
    assert dora.evaluate("window.__pwned") is None
    # the markup is shown as text: in the description, the steps, the diff and the YAML
    assert "<script>window.__pwned=2" in dora.locator("p.description").inner_text()
    assert 'onerror="window.__pwned=1' in dora.locator("table.steps").inner_text()
    assert "<script>window.__pwned=2" in dora.locator("#runbook-yaml").input_value()
    dora.fill("#comment-text", '<script>alert(8)</script><img src=x onerror="alert(9)">')
    dora.click("#add-comment")
    dora.wait_for_selector("article.comment")
    assert "<script>alert(8)</script>" in dora.locator("article.comment").last.inner_text()
    dora.goto("/inbox")
    dora.click(f'[data-approve="{root}"]')
    child = f"{root}.checks"
    until(dora, "/inbox", lambda p: child in inbox_rows(p))
    dora.goto(f"/runs/{child}/review")
    for summary in dora.locator("details.cite summary").all():
        summary.click()
    quoted = dora.locator("blockquote.passage").all_inner_texts()
    assert any("window.__pwned=2" in q for q in quoted), quoted[:3]  # the script's text, inert
    passage = dora.locator("details.cite a").first.get_attribute("href")
    assert passage
    dora.goto(passage)
    pages = ["/inbox", f"/runs/{root}", f"/runs/{root}/findings", "/runs", f"/runs/{child}/review"]
    for path in pages:
        dora.goto(path)
        assert dora.evaluate("window.__pwned") is None, path
        assert dora.locator("main script, main img, main svg, main [onerror], main [onclick]").count() == 0, (
            path
        )
        assert dora.locator('a[href^="javascript:"]').count() == 0, path
    assert dora.evaluate("window.__pwned") is None
    assert watch.dialogs == [] and ana_watch.dialogs == [], (watch.dialogs, ana_watch.dialogs)
    assert watch.console == [] and ana_watch.console == [], (watch.console, ana_watch.console)
    assert watch.no_csp == []
    ana.context.close()
    dora.context.close()


# --- SLA and escalation -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def overdue_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Live, Any]]:
    """A server whose policy gives Acme's approvals a 2 s SLA escalating to admin, mail to a
    loopback SMTP server, and an escalation loop every half second."""
    from tests.service._queue_helpers import policy_copy, smtp_server

    folder = tmp_path_factory.mktemp("overdue")
    with smtp_server() as mailbox:
        policy = policy_copy(folder, sla="2s", escalate_to="admin", smtp_port=mailbox.port)
        app = create_app(folder / "home", policy=policy, workers=2, escalate_every_s=0.5)
        users = {"ana@acme": "acme", "dora@acme": "acme", "adam@acme": "acme"}
        for user, tenant in users.items():
            app.state.service.accounts.add_user(user, tenant, PASSWORD)
        tokens = {u: app.state.service.accounts.issue_token(u, timedelta(days=1)).secret for u in users}
        with serving(app) as port:
            yield Live(f"http://127.0.0.1:{port}", app, folder / "home", tokens), mailbox


def test_an_overdue_approval_shows_as_escalated_and_the_escalation_is_mailed(
    overdue_server: tuple[Live, Any], browser: Any
) -> None:
    live, mailbox = overdue_server
    run = live.waiting_run()
    dora, watch = open_page(browser, live.url, "dora@acme")
    until(dora, "/inbox", lambda p: p.locator(f'tr[data-run="{run}"] .badge.sla.escalated').count() == 1, 30)
    row = dora.locator(f'tr[data-run="{run}"]')
    assert "escalated" in row.inner_text() and "due" in row.inner_text()
    shot(dora, "inbox-escalated.png")
    deadline = time.monotonic() + 30
    while not [m for m in mailbox.to("adam@acme.test") if run in m.as_string()]:
        assert time.monotonic() < deadline, [m["Subject"] for _, _, m in mailbox.messages]
        time.sleep(0.2)
    mail = next(m for m in mailbox.to("adam@acme.test") if run in m.as_string())
    assert "escalat" in (mail["Subject"] or "").lower() + mail.as_string().lower()

    adam, _ = open_page(browser, live.url, "adam@acme")
    adam.goto("/admin/queue")
    acme = adam.locator('section[data-tenant="acme"]')
    assert "Escalated" in acme.inner_text()
    assert int(acme.locator("dt:text('Overdue') + dd").inner_text()) >= 1
    metrics = adam.request.get("/metrics", headers={"Authorization": f"Bearer {live.tokens['adam@acme']}"})
    assert metrics.status == 200 and 'warden_approvals_escalated_pending{tenant="acme"}' in metrics.text()
    assert watch.clean(), watch
    dora.context.close()
    adam.context.close()
