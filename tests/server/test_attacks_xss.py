"""Stored and reflected markup, over HTTP: text an attacker controls (a rejection or cancellation
reason, an edited runbook, a run id or filter in the address) comes back in pages as text, never
as markup. Each page is parsed: no script but the site's own files, no event-handler attribute, no
`javascript:` link, and the attacker's text is there, escaped. (test_browser.py proves in Chromium
that a hostile notice, runbook, file name and comment run no script.)"""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import quote

from tests.server.conftest import Live, signed_in

HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(2)>\"' onmouseover=alert(3) javascript:alert(4)"


class Markup(HTMLParser):
    """What in a page could run: scripts, event handlers, javascript: URLs."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.bad: list[str] = []
        self.in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "script" and not (found.get("src") or "").startswith("/static/"):
            self.bad.append(f"<script {attrs}>")
        if tag in ("img", "svg", "iframe", "object", "embed"):
            self.bad.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on"):
                self.bad.append(f"{tag}[{name}]")
            if name in ("href", "src", "action", "formaction") and (value or "").strip().lower().startswith(
                ("javascript:", "data:", "//")
            ):
                self.bad.append(f"{tag}[{name}={value}]")
        self.in_script = tag == "script"

    def handle_data(self, data: str) -> None:
        if self.in_script and data.strip():
            self.bad.append(f"inline script: {data[:60]}")

    def handle_endtag(self, tag: str) -> None:
        self.in_script = False


def inert(page: str) -> None:
    parser = Markup()
    parser.feed(page)
    assert parser.bad == [], parser.bad


def test_a_hostile_rejection_reason_is_text_on_every_page(live: Live) -> None:
    rejected = live.waiting_run()
    with signed_in(live, "dora@acme") as (c, csrf):
        r = c.post(f"/runs/{rejected}/reject", data={"csrf_token": csrf, "role": "dpo", "reason": HOSTILE})
        assert r.status_code == 303, r.text
        live.settle("dora@acme", rejected)
        for path in (f"/runs/{rejected}", "/runs", f"/runs/{rejected}/findings", "/inbox"):
            page = c.get(path)
            assert page.status_code == 200, path
            inert(page.text)
        run_page = c.get(f"/runs/{rejected}").text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in run_page  # shown, as text


def test_a_hostile_cancellation_reason_is_text(live: Live) -> None:
    cancelled = live.waiting_run()
    with live.client("ana@acme") as api:
        r = api.post(f"/api/runs/{cancelled}/cancel", json={"reason": HOSTILE})
        assert r.status_code == 200, r.text
    with signed_in(live, "ana@acme") as (c, _):
        page = c.get(f"/runs/{cancelled}")
        assert page.status_code == 200
        inert(page.text)
        assert "&lt;img src=x onerror=alert(2)&gt;" in page.text


def test_a_hostile_edit_is_shown_line_by_line_as_text(live: Live) -> None:
    run = live.waiting_run()
    yaml_text = f"name: x\ndescription: '{HOSTILE.replace(chr(39), chr(39) * 2)}'\nsteps: [{HOSTILE}\n"
    with signed_in(live, "dora@acme") as (c, csrf):
        r = c.post(
            f"/runs/{run}/edit",
            data={"csrf_token": csrf, "role": "dpo", "action": "validate", "runbook_yaml": yaml_text},
        )
        assert r.status_code == 422, r.text[-500:]
        inert(r.text)
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text


def test_reflected_addresses_and_filters_are_text(live: Live) -> None:
    run = live.waiting_run()
    with signed_in(live, "dora@acme") as (c, _):
        pages = {
            "run id": c.get(f"/runs/{quote(HOSTILE, safe='')}"),
            "review id": c.get(f"/runs/{quote(HOSTILE, safe='')}/review"),
            "passage id": c.get(f"/runs/{run}/passages/{quote(HOSTILE, safe='')}"),
            "runs status": c.get("/runs", params={"status": HOSTILE[:60]}),
            "inbox tenant": c.get("/inbox", params={"tenant": HOSTILE[:190], "offset": 0}),
            "inbox decided": c.get("/inbox", params={"decided": HOSTILE, "decision": HOSTILE[:20]}),
            "findings filters": c.get(
                f"/runs/{run}/findings",
                params={"category": HOSTILE[:60], "system": HOSTILE, "min_severity": "info"},
            ),
            "findings severity": c.get(f"/runs/{run}/findings", params={"min_severity": HOSTILE[:16]}),
            "report format": c.get(f"/runs/{run}/report.{quote(HOSTILE[:30], safe='')}"),
            "no such page": c.get(f"/{quote(HOSTILE, safe='')}"),
        }
        for name, page in pages.items():
            assert page.status_code < 500, (name, page.text[-500:])
            assert page.headers["content-type"].startswith("text/html"), name
            inert(page.text)
            assert "<script>alert(1)" not in page.text, name


def test_the_html_report_download_never_renders_inline(live: Live) -> None:
    """The HTML report is a download (an attachment, under the same CSP), not a page of the site
    that could run what a document says."""
    run = live.waiting_run()
    with signed_in(live, "dora@acme") as (c, _):
        r = c.get(f"/runs/{run}/report.html")
    assert r.status_code == 200
    assert r.headers["content-disposition"].startswith("attachment;")
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"
