"""Document sets on the command line (issue 18): `warden extract A B` and `warden analyse A B`
read several documents as one notice; `--each` keeps one run per document."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
PRODUCT = REPO / "fixtures" / "transparency" / "lumen_notes_product_notice.md"
MAIN = REPO / "fixtures" / "transparency" / "sets" / "lumen-privacy-statement.md"


def _warden(
    *args: str, home: Path | None = None, policy: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARDEN_") or k == "WARDEN_LEDGER_URL"}
    env.update(NO_COLOR="1", COLUMNS="250")
    if home is not None:
        env["WARDEN_HOME"] = str(home)
    if policy is not None:
        env["WARDEN_POLICY"] = str(policy)
    return subprocess.run(
        [sys.executable, "-m", "warden", *args], env=env, capture_output=True, text=True, timeout=300
    )


def test_extract_checks_a_set_as_one_notice_and_names_each_passages_document() -> None:
    done = _warden("extract", str(PRODUCT), str(MAIN), "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    report = out["transparency_report"]
    assert [d["name"] for d in report["documents"]] == [PRODUCT.name, MAIN.name]
    items = {i["item"]: i for i in report["items"]}
    assert items["right_access"]["status"] == "present"
    assert items["right_access"]["documents"] == [MAIN.name]
    assert {p["document_id"] for p in out["labelled_passages"]["passages"]} == {
        d["id"] for d in report["documents"]
    }

    table = _warden("extract", str(PRODUCT), str(MAIN))
    assert table.returncode == 0, table.stderr
    assert f"Document set (one notice): {PRODUCT.name}, {MAIN.name}" in table.stdout
    assert f"(in the set: {MAIN.name})" in table.stdout
    assert f"{MAIN.name}#" in table.stdout  # passages cited with their document
    assert "deferred to" not in table.stdout


def test_extract_of_the_product_notice_alone_shows_the_deferrals() -> None:
    done = _warden("extract", str(PRODUCT))
    assert done.returncode == 0, done.stderr
    assert "deferred to Lumen Privacy Statement" in done.stdout


def _acme(tmp_path: Path) -> Path:
    """A policy whose acme tenant may read documents from tmp_path/docs."""
    data = yaml.safe_load((REPO / "fixtures" / "acme" / "policy.yaml").read_text())
    acme = data["tenants"]["acme"]
    acme["document_roots"] = [str(tmp_path / "docs")]
    acme["allowed_roots"] = [str(REPO / "fixtures" / "acme" / "systems")]
    for system in acme["systems"]:
        system["location"] = str(REPO / "fixtures" / "acme" / system["location"])
    globex = data["tenants"]["globex"]
    globex["document_roots"] = [str(REPO / "fixtures" / "globex")]
    globex["allowed_roots"] = [str(REPO / "fixtures" / "globex" / "systems")]
    for system in globex["systems"]:
        system["location"] = str(REPO / "fixtures" / "globex" / system["location"])
    (tmp_path / "docs").mkdir()
    shutil.copy(PRODUCT, tmp_path / "docs" / PRODUCT.name)
    shutil.copy(MAIN, tmp_path / "docs" / MAIN.name)
    policy = tmp_path / "policy.yaml"
    policy.write_text(yaml.safe_dump(data, sort_keys=False))
    return policy


def test_analyse_takes_several_documents_as_one_run(tmp_path: Path) -> None:
    policy, home = _acme(tmp_path), tmp_path / "home"
    docs = tmp_path / "docs"
    done = _warden(
        "analyse", str(docs / PRODUCT.name), str(docs / MAIN.name), "--tenant", "acme", "--as", "ana@acme",
        "--json", home=home, policy=policy,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (line,) = [json.loads(x) for x in done.stdout.splitlines() if x.startswith("{")]
    assert line["status"] == "waiting_approval"
    listed = _warden("runs", "--as", "ana@acme", "--json", home=home, policy=policy)
    assert listed.returncode == 0, listed.stderr
    (run,) = json.loads(listed.stdout)
    assert run["run_id"] == line["run_id"] and run["document"] == f"{MAIN.name} (+1)"
    review = _warden("review", line["run_id"], "--as", "dora@acme", home=home, policy=policy)
    assert review.returncode == 0, review.stderr
    assert f"document: {PRODUCT.name}" in review.stdout and f"document: {MAIN.name}" in review.stdout

    approved = _warden("approve", line["run_id"], "--as", "dora@acme", "--role", "dpo",
                       home=home, policy=policy)  # fmt: skip
    assert approved.returncode == 0, approved.stderr
    found = _warden("findings", line["run_id"], "--as", "ana@acme", "--json", home=home, policy=policy)
    assert found.returncode == 0, found.stderr
    assert not [f for f in json.loads(found.stdout) if f["code"].startswith("gdpr.")]


def test_analyse_each_keeps_one_run_per_document_and_one_refused_document_stops_the_set(
    tmp_path: Path,
) -> None:
    policy, home = _acme(tmp_path), tmp_path / "home"
    docs = tmp_path / "docs"
    each = _warden(
        "analyse", str(docs / PRODUCT.name), str(docs / MAIN.name), "--each", "--tenant", "acme",
        "--as", "ana@acme", "--json", home=home, policy=policy,
    )  # fmt: skip
    assert each.returncode == 0, each.stderr
    assert len([x for x in each.stdout.splitlines() if x.startswith("{")]) == 2

    outside = REPO / "fixtures" / "globex" / "notice.md"
    refused = _warden(
        "analyse", str(docs / PRODUCT.name), str(outside), "--tenant", "acme", "--as", "ana@acme",
        home=home, policy=policy,
    )  # fmt: skip
    assert refused.returncode != 0
    assert "document_outside_roots" in refused.stderr and "fix" in refused.stderr
    listed = _warden("runs", "--as", "ana@acme", "--json", home=home, policy=policy)
    assert len(json.loads(listed.stdout)) == 2  # the refused set recorded no run
