"""Document sets through the service (issue 18): `start` takes several documents as one notice;
each is checked against the tenant's document roots before anything is recorded, and the run's
steps, findings, run list, inbox and review all handle the set. Real DuckDB, no mocks."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from _acme_tree import REPO, acme_copy

from warden.errors import UsageError
from warden.service import DocumentRefused
from warden.store import Store

PRODUCT = REPO / "fixtures" / "transparency" / "lumen_notes_product_notice.md"
MAIN = REPO / "fixtures" / "transparency" / "sets" / "lumen-privacy-statement.md"


def _rows(home: Path, sql: str, params: list | None = None) -> list[dict]:
    return Store(home / "warden.duckdb").query(sql, params)


def _documents(base: Path) -> tuple[Path, Path]:
    shutil.copy(PRODUCT, base / PRODUCT.name)
    shutil.copy(MAIN, base / MAIN.name)
    return base / PRODUCT.name, base / MAIN.name


def _transparency(home: Path, run_id: str) -> dict:
    (row,) = _rows(
        home, "SELECT output_json FROM steps WHERE run_id = ? AND step_id = 'transparency'", [run_id]
    )
    return json.loads(row["output_json"])


def test_a_set_is_one_run_judged_over_both_documents(tmp_path: Path) -> None:
    acme = acme_copy(tmp_path)
    product, main = _documents(acme.base)
    service = acme.service()
    ana, dora = service.principal("ana@acme", writing=True), service.principal("dora@acme")
    outcome = service.start(ana, [product, main], tenant="acme")
    root = outcome.root_run_id
    assert outcome.status == "waiting_approval"  # the root runbook waits for the DPO

    stored = _rows(acme.home, "SELECT document_id, name FROM run_documents "
                   "WHERE run_id = ? ORDER BY name", [root])  # fmt: skip
    assert [r["name"] for r in stored] == ["lumen-privacy-statement.md", "lumen_notes_product_notice.md"]
    main_id = stored[0]["document_id"]

    # the run list and the inbox name the set; the review shows both documents
    (listed,) = [r for r in service.runs(ana) if r["run_id"] == root]
    assert listed["document"] == "lumen-privacy-statement.md (+1)"
    (waiting,) = service.inbox(dora)
    assert waiting.document == "lumen-privacy-statement.md (+1)"
    review = service.review(dora, waiting.run_id)
    assert sorted(d["name"] for d in review["documents"]) == [r["name"] for r in stored]

    service.decide(dora, root, "approve", role="dpo")
    report = _transparency(acme.home, root)
    assert [d["name"] for d in report["documents"]] == [
        "lumen_notes_product_notice.md",
        "lumen-privacy-statement.md",
    ]
    items = {i["item"]: i for i in report["items"]}
    assert {i["status"] for i in items.values()} == {"present", "not_applicable"}
    assert items["right_access"]["documents"] == ["lumen-privacy-statement.md"]
    assert all(pid.startswith(main_id[:12]) for pid in items["right_access"]["passage_ids"])
    assert not _rows(acme.home, "SELECT 1 FROM findings WHERE root_run_id = ? AND code LIKE 'gdpr.%'", [root])

    # approved, the child runbook reads the same set
    (child,) = service.inbox(dora)
    assert child.document == "lumen-privacy-statement.md (+1)"
    done = service.decide(dora, child.run_id, "approve", role="dpo")
    assert done.status == "completed", done

    # the report's transparency table cites each passage with its document
    markdown = service.report(ana, root, "md")
    table = markdown.split("## GDPR Art. 13/14 transparency", 1)[1].split("## Execution tree", 1)[0]
    assert f"lumen-privacy-statement.md {main_id[:12]}#" in table
    assert "lumen_notes_product_notice.md " in table and "deferred" not in table
    html = service.report(ana, root, "html")
    assert "lumen-privacy-statement.md #" in html
    # the record of processing cites each passage's own document, not the set's name
    ropa = json.dumps(service.ropa(ana, root))
    assert "(+1)" not in ropa and "lumen-privacy-statement.md" in ropa
    requested = _rows(acme.home, "SELECT payload_json FROM audit_events WHERE run_id = ? AND event = "
                      "'run_requested'", [root])  # fmt: skip
    assert json.loads(requested[0]["payload_json"])["document_set"] == [str(product), str(main)]


def test_the_product_notice_alone_reports_deferred_items_at_info(tmp_path: Path) -> None:
    acme = acme_copy(tmp_path)
    product, _ = _documents(acme.base)
    service = acme.service()
    root = service.start(service.principal("ana@acme", writing=True), product, tenant="acme").root_run_id
    service.decide(service.principal("dora@acme"), root, "approve", role="dpo")
    found = _rows(acme.home, "SELECT code, severity, evidence_json, details_json FROM findings "
                  "WHERE root_run_id = ? AND code LIKE 'gdpr.%'", [root])  # fmt: skip
    deferred = [f for f in found if f["code"].startswith("gdpr.deferred.")]
    assert deferred and {f["severity"] for f in deferred} == {"info"}
    assert {json.loads(f["details_json"])["deferred_to"] for f in deferred} == {"Lumen Privacy Statement"}
    assert all("Lumen Privacy Statement" in json.loads(f["evidence_json"])[0]["quote"] for f in deferred)
    (listed,) = [r for r in service.runs(service.principal("ana@acme")) if r["run_id"] == root]
    assert listed["document"] == "lumen_notes_product_notice.md"


def _nothing_recorded(home: Path) -> None:
    if not (home / "warden.duckdb").exists():
        return
    for table in ("runs", "documents", "run_documents", "passages", "findings"):
        assert not _rows(home, f"SELECT 1 FROM {table}"), table
    assert not _rows(home, "SELECT 1 FROM audit_events WHERE event = 'run_requested'")


def test_one_document_outside_the_tenants_roots_refuses_the_whole_set(tmp_path: Path) -> None:
    acme = acme_copy(tmp_path / "acme")
    product, _ = _documents(acme.base)
    outside = tmp_path / "elsewhere" / MAIN.name
    outside.parent.mkdir()
    shutil.copy(MAIN, outside)
    service = acme.service()
    with pytest.raises(DocumentRefused) as refused:
        service.start(service.principal("ana@acme", writing=True), [product, outside], tenant="acme")
    assert refused.value.code == "document_outside_roots" and refused.value.fix
    assert str(outside) in refused.value.message
    _nothing_recorded(acme.home)


def test_another_tenants_document_refuses_the_set(tmp_path: Path) -> None:
    acme = acme_copy(tmp_path)
    product, _ = _documents(acme.base)
    globex_notice = REPO / "fixtures" / "globex" / "notice.md"
    service = acme.service()
    with pytest.raises(DocumentRefused):
        service.submit(service.principal("ana@acme", writing=True), [product, globex_notice], tenant="acme")
    _nothing_recorded(acme.home)


def test_the_same_document_twice_or_none_is_a_coded_usage_error(tmp_path: Path) -> None:
    acme = acme_copy(tmp_path)
    product, _ = _documents(acme.base)
    service = acme.service()
    ana = service.principal("ana@acme", writing=True)
    with pytest.raises(UsageError) as twice:
        service.submit(ana, [product, acme.base / "." / PRODUCT.name], tenant="acme")
    assert twice.value.code == "duplicate_document" and twice.value.fix
    with pytest.raises(UsageError) as none:
        service.submit(ana, [], tenant="acme")
    assert none.value.fix
    _nothing_recorded(acme.home)


def test_a_set_over_the_limit_is_refused_before_any_document_is_read(tmp_path: Path) -> None:
    from warden.service.starting import MAX_SET_DOCUMENTS

    acme = acme_copy(tmp_path)
    service = acme.service()
    paths = [acme.base / f"n{i}.md" for i in range(MAX_SET_DOCUMENTS + 1)]
    with pytest.raises(UsageError) as refused:
        service.submit(service.principal("ana@acme", writing=True), paths, tenant="acme")
    assert refused.value.code == "too_many_documents" and "--each" in (refused.value.fix or "")
    _nothing_recorded(acme.home)


def test_a_recorded_set_restarts_with_all_its_documents() -> None:
    from warden.service.starting import initial_state

    request = {"document": "/d/a.md", "document_paths": ["/d/a.md", "/d/b.md"], "runbook": {}}
    assert initial_state("run-1", "acme", "ana@acme", request)["document_paths"] == ["/d/a.md", "/d/b.md"]
    single = {"document": "/d/a.md", "runbook": {}}
    assert initial_state("run-1", "acme", "ana@acme", single)["document_paths"] == ["/d/a.md"]


def test_a_set_run_replays_to_the_same_findings(tmp_path: Path) -> None:
    from warden.service.replay import replay_run

    acme = acme_copy(tmp_path)
    product, _ = _documents(acme.base)
    # the product notice with a main statement that lacks a DPO: the set has missing items too
    sparse = acme.base / "lumen_privacy_statement.md"
    shutil.copy(REPO / "fixtures" / "transparency" / "lumen_privacy_statement.md", sparse)
    service = acme.service()
    ana, dora = service.principal("ana@acme", writing=True), service.principal("dora@acme")
    root = service.start(ana, [product, sparse], tenant="acme").root_run_id
    service.decide(dora, root, "approve", role="dpo")
    assert service.decide(dora, f"{root}.checks", "approve", role="dpo").status == "completed"
    codes = {r["code"] for r in _rows(acme.home, "SELECT code FROM findings WHERE root_run_id = ?", [root])}
    assert "gdpr.missing.dpo_contact" in codes and not {c for c in codes if c.startswith("gdpr.deferred.")}
    replayed = replay_run(service, dora, root)
    assert replayed.identical, (replayed.original_findings, replayed.replay_findings, replayed.reason)


def test_an_unreadable_upload_fails_its_run_naming_the_file_not_the_servers_directory(
    tmp_path: Path,
) -> None:
    acme = acme_copy(tmp_path)
    service = acme.service()
    ana = service.principal("ana@acme", writing=True)
    stored = service.upload(ana, "acme", "broken.pdf", b"%PDF-1.7\n1 0 obj << /Type /Catalog")
    outcome = service.start(ana, stored, tenant="acme")
    assert outcome.status == "failed"
    (run,) = _rows(acme.home, "SELECT status_reason FROM runs WHERE run_id = ?", [outcome.root_run_id])
    reason = run["status_reason"]
    assert "(document_corrupt)" in reason and stored.name in reason
    assert str(stored.parent) not in reason and str(acme.home) not in reason
