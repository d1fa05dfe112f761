"""`warden report RUN`: content of the Markdown and JSON reports, the charts, and tenancy."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from _acme_runs import PLANTED_EMAIL, PLANTED_TOKEN, Investigated
from _wardencli import Done

from warden.investigate import bar_chart_svg, severity_chart_svg


def _report(inv: Investigated, *args: str, ok: bool | None = True) -> Done:
    return inv.w.run("report", *args, "--policy", str(inv.policy), ok=ok)


def test_json_report_holds_summary_findings_with_citations_tree_approvals_and_costs(
    investigated: Investigated,
) -> None:
    report = _report(investigated, investigated.second, "--format", "json", "--as", "dora@acme").json()
    summary = report["summary"]
    assert (summary["runbook"], summary["version"], summary["tenant"], summary["status"]) == (
        "privacy-policy-review",
        2,
        "acme",
        "completed",
    )
    assert summary["approvers"] == ["dora@acme"]
    assert summary["by_severity"] == {"high": 1, "medium": 1, "low": 2}
    assert summary["cost_usd"] == 0.25 and summary["runs"] == 2
    assert [d["name"] for d in summary["documents"]] == ["notice-revised.md"]
    cited = next(f for f in report["findings"] if f["code"] == "gdpr.missing.right_withdraw_consent")
    (citation,) = cited["citations"]
    assert "your consent for marketing emails" in citation["quote"]
    assert "Our legal basis" in citation["where"]
    scan = next(f for f in report["findings"] if f["code"] == "test.crm-export")
    assert scan["system"] == "crm"
    assert len(report["transparency"]) == 21
    assert [c["run_id"] for c in report["tree"]["children"]] == [f"{investigated.second}.checks"]
    assert [e["event"] for e in report["approvals"]] == ["requested", "approve", "requested", "approve"]
    assert report["costs"]["total_usd"] == 0.25


def test_markdown_report_has_every_section_and_redacts_the_approvers_comment(
    investigated: Investigated,
) -> None:
    md = _report(investigated, investigated.second, "--format", "md").out
    for heading in ("## Summary", "## Findings", "## GDPR Art. 13/14 transparency", "## Execution tree"):
        assert f"\n{heading}\n" in md
    assert "## Approvals" in md and "## Costs" in md
    assert "### [high] Missing: Right to withdraw consent" in md
    assert "> — notice-revised.md, Acme Ltd Privacy Notice › Our legal basis" in md
    assert "| Right to withdraw consent | GDPR Art. 13(2)(c), 14(2)(d) | missing | high |" in md
    assert f"  - `{investigated.second}.checks` acme-system-checks v1: completed" in md
    assert PLANTED_EMAIL not in md and PLANTED_TOKEN not in md and "[redacted:email]" in md


def test_report_writes_one_html_file_with_out(investigated: Investigated, tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    done = _report(investigated, investigated.first, "--out", str(target))
    assert done.out == "" and f"wrote {target}" in done.err
    html = target.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    assert "<svg" in html and "<style>" in html


def test_a_user_of_another_tenant_cannot_report_the_run(investigated: Investigated, tmp_path: Path) -> None:
    target = tmp_path / "leak.html"
    done = _report(investigated, investigated.second, "--as", "gil@globex", "--out", str(target), ok=None)
    assert done.code == 2, str(done)
    assert f"no run '{investigated.second}'" in done.err and "(unknown_run)" in done.err
    assert done.out == "" and not target.exists() and "Traceback" not in done.err


def test_unknown_run_bad_format_and_missing_folder_are_usage_errors(
    investigated: Investigated, tmp_path: Path
) -> None:
    unknown = _report(investigated, "run-000000000000", ok=None)
    assert unknown.code == 2 and "no run 'run-000000000000'" in unknown.err
    bad = _report(investigated, investigated.first, "--format", "pdf", ok=None)
    assert bad.code == 2 and "unknown report format 'pdf'" in bad.err and "html, md, json" in bad.err
    nowhere = _report(investigated, investigated.first, "--out", str(tmp_path / "no" / "r.html"), ok=None)
    assert nowhere.code == 2 and "does not exist" in nowhere.err
    for done in (unknown, bad, nowhere):
        assert "Traceback" not in done.err and done.out == ""


def test_charts_are_well_formed_svg_with_one_bar_per_value_and_escaped_labels() -> None:
    svg = severity_chart_svg({"crm": {"high": 2, "low": 1}, "<script>": {"low": 1}})
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    bars = [r for r in root.iter(f"{ns}rect") if r.find(f"{ns}title") is not None]
    assert sorted(b.find(f"{ns}title").text for b in bars) == [  # type: ignore[union-attr]
        "<script>: low 1",
        "crm: high 2",
        "crm: low 1",
    ]
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    widths = {b.find(f"{ns}title").text: float(b.get("width")) for b in bars}  # type: ignore[arg-type,union-attr]
    assert widths["crm: high 2"] == 2 * widths["crm: low 1"]
    empty = ET.fromstring(bar_chart_svg([], series=["seconds"], title="Step timings"))
    assert "nothing to show" in "".join(empty.itertext())
