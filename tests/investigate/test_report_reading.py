"""What the investigator reads (issue 18): every finding's evidence quote in the report, the
real requester in the approvals table, jump links and a script-free severity filter, triage
shown (and suppressed findings hidden on request), and the latest *completed* run by default."""

from __future__ import annotations

import json
import re
import sys
from html import escape
from pathlib import Path

import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "service"))

from _acme_tree import Acme, acme_copy

from warden.cli import app
from warden.investigate import latest_root_run, open_store
from warden.investigate.render_md import _c as md_text


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Acme, str]:
    acme = acme_copy(tmp_path_factory.mktemp("reading") / "acme")
    return acme, acme.completed()


def _report(acme: Acme, run: str, *args: str) -> str:
    env = {"WARDEN_HOME": str(acme.home), "WARDEN_POLICY": str(acme.policy), "WARDEN_USER": None}
    done = CliRunner(env=env).invoke(app, ["report", run, "--as", "dora@acme", *args], catch_exceptions=False)
    assert done.exit_code == 0, done.stderr
    return done.stdout


def test_every_evidence_quote_or_location_is_in_the_report(demo: tuple[Acme, str]) -> None:
    acme, run = demo
    html = _report(acme, run)
    md = _report(acme, run, "--format", "md")
    service = acme.service()
    found = service.findings(service.principal("dora@acme"), run)
    assert any(not e.get("quote") for f in found for e in f["evidence"]), "the demo has quote-less evidence"
    for f in found:
        for e in f["evidence"]:
            shown = e.get("quote") or e.get("location")
            assert escape(shown) in html, (f["code"], shown)
            assert md_text(shown) in md, (f["code"], shown)  # as Markdown text: `****` escaped
    quotes = re.findall(r"<blockquote>(.*?)<cite>", html)
    assert quotes and all(q.strip() not in ("", "None", "–") for q in quotes)
    assert not re.search(r"^> (None|–)$", md, re.MULTILINE)


def test_approvals_name_the_requester_not_the_engine(demo: tuple[Acme, str]) -> None:
    acme, run = demo
    report = json.loads(_report(acme, run, "--format", "json"))
    asked = [e for e in report["approvals"] if e["event"] == "requested"]
    assert len(asked) == 2 and {e["actor"] for e in asked} == {"ana@acme"}


def test_jump_links_and_a_css_only_severity_filter(demo: tuple[Acme, str]) -> None:
    acme, run = demo
    html = _report(acme, run)
    assert "<script" not in html.lower() and "onclick" not in html.lower()
    anchors = re.findall(r'<article class="finding sev-(\w+)" id="([^"]+)"', html)
    report = json.loads(_report(acme, run, "--format", "json"))
    assert len(anchors) == len(report["findings"]) == len({a for _, a in anchors})
    toc = html[html.index('<nav class="toc"') : html.index("</nav>")]
    for _, anchor in anchors:
        assert f'href="#{anchor}"' in toc
    for section in ("summary", "findings", "transparency", "tree", "approvals", "costs"):
        assert f'href="#{section}"' in toc and f'<section id="{section}">' in html
    for severity in {s for s, _ in anchors}:
        assert f'id="sev-{severity}"' in html
        assert f"#sev-{severity}:checked~.findings-list .finding:not(.sev-{severity}){{display:none}}" in html
    # the radios are siblings placed before the list they filter
    findings_section = html[html.index('<section id="findings">') :]
    assert findings_section.index('id="sev-all"') < findings_section.index('<div class="findings-list">')


def test_the_report_shows_triage_and_can_hide_what_it_suppresses(
    demo: tuple[Acme, str], tmp_path: Path
) -> None:
    acme, run = demo
    import shutil

    home = tmp_path / "home"
    shutil.copytree(acme.home, home)
    copy = Acme(acme.base, acme.policy, acme.notice, acme.systems, home)
    service = copy.service()
    dora = service.principal("dora@acme")
    target = next(f for f in service.findings(dora, run) if f["code"] == "gap.undisclosed_recipient")
    service.triage(dora, target["finding_id"], "accepted_risk", "DPA and SCCs signed 2025-03")
    html = _report(copy, run)
    assert "accepted risk: dora@acme, DPA and SCCs signed 2025-03" in html
    assert "1 suppressed by triage: shown, marked" in html
    hidden = _report(copy, run, "--hide-suppressed")
    assert "DPA and SCCs signed" not in hidden and "1 suppressed by triage: hidden" in hidden
    assert hidden.count('<article class="finding') == html.count('<article class="finding') - 1
    md = _report(copy, run, "--format", "md")
    assert "Triage: **accepted_risk** by dora@acme: DPA and SCCs signed 2025-03" in md


def test_the_default_run_is_the_latest_completed_one(demo: tuple[Acme, str], tmp_path: Path) -> None:
    acme, run = demo
    import shutil

    home = tmp_path / "home"
    shutil.copytree(acme.home, home)
    copy = Acme(acme.base, acme.policy, acme.notice, acme.systems, home)
    service = copy.service()
    waiting = service.start(service.principal("ana@acme", writing=True), copy.notice, tenant="acme")
    assert waiting.status == "waiting_approval"
    source = open_store(home)
    assert latest_root_run(source) == run
    assert latest_root_run(source, status=None) == waiting.root_run_id
