"""A document is stored once by its sha256 for every tenant (content addressing keeps repeated
analyses cheap), but each run names its documents as its own request did: nothing one tenant
stored under a shared content address (its file name) shows in another tenant's runs. Both
ledgers (`WARDEN_TEST_LEDGER=postgres`)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from warden.schemas.document import Document, Passage
from warden.store import Store, approval_queue, audit, documents, reads, runs
from warden.store.schema import SCHEMA_VERSION

TEXT = "Acme Ltd Privacy Notice\n\nWe keep your e-mail address for two years."


def _document(name: str, text: str = TEXT) -> Document:
    sha = hashlib.sha256(text.encode()).hexdigest()
    first, second = text.split("\n\n")
    return Document(
        id=sha,
        name=name,
        format="markdown",
        text_chars=len(text),
        text=text,
        passages=[
            Passage(id=f"{sha[:12]}#0", index=0, text=first, start=0, end=len(first)),
            Passage(id=f"{sha[:12]}#1", index=1, text=second, start=len(first) + 2, end=len(text)),
        ],
    )


def _run(con: Any, run_id: str, tenant: str, requester: str) -> None:
    runs.create_run(con, runs.RunRow(run_id, run_id, None, None, 0, run_id, "", tenant, requester))


def _seen(con: Any, run_id: str, tenant: str) -> dict[str, Any]:
    """Every name a run's readers show of its documents."""
    document_id = documents.document_ids_of_run(con, run_id)[0]
    passage_ids = [r["passage_id"] for r in documents.passages_of(con, [f"{document_id[:12]}#0"])]
    listed = [r for r in runs.visible_runs(con, tenants=[tenant]) if r["run_id"] == run_id]
    got = documents.get_document(con, document_id, run_id)
    return {
        "listed": listed[0]["document"],
        "inbox": approval_queue.first_document(con, run_id),
        "documents_of_run": [d["name"] for d in reads.documents_of_run(con, run_id)],
        "passages": {p["document_name"] for p in reads.passages_by_id(con, passage_ids, run_id)},
        "get_document": got.name if got else None,
    }


def _everywhere(name: str) -> dict[str, Any]:
    return {
        "listed": name,
        "inbox": name,
        "documents_of_run": [name],
        "passages": {name},
        "get_document": name,
    }


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "warden.duckdb", lock_timeout_s=10)


def test_two_tenants_storing_the_same_bytes_each_see_only_their_own_file_name(store: Store) -> None:
    with store.connect() as con:
        _run(con, "acme-run", "acme", "ana@acme")
        documents.store_document(con, _document("acme-secret-project-falcon.md"), "acme-run")
    with store.connect() as con:
        _run(con, "globex-run", "globex", "gil@globex")
        documents.store_document(con, _document("globex-notice.md"), "globex-run")
    with store.connect(read_only=True) as con:
        acme = _seen(con, "acme-run", "acme")
        globex = _seen(con, "globex-run", "globex")
        shared = documents.get_document(con, _document("x").id)
        row = con.execute("SELECT name, document_json FROM documents").fetchall()
        stored = len(row)
        passages = con.execute("SELECT count(*) FROM passages").fetchone()[0]
    assert acme == _everywhere("acme-secret-project-falcon.md")
    assert globex == _everywhere("globex-notice.md")
    # without a run, the shared row is named by its id: never by whoever stored it first
    assert shared is not None and shared.name == shared.id
    # still stored once: the content addressing stays; the shared row keeps no uploader's name
    assert (stored, passages) == (1, 2)
    assert "falcon" not in repr(row) and "globex-notice" not in repr(row)


def test_a_passage_is_read_only_for_a_run_that_reads_its_document(store: Store) -> None:
    with store.connect() as con:
        _run(con, "acme-run", "acme", "ana@acme")
        documents.store_document(con, _document("acme-secret-project-falcon.md"), "acme-run")
        _run(con, "globex-run", "globex", "gil@globex")
    passage = f"{_document('x').id[:12]}#0"
    with store.connect(read_only=True) as con:
        assert reads.passages_by_id(con, [passage], "globex-run") == []
        assert reads.documents_of_run(con, "globex-run") == []
        got = documents.get_document(con, _document("x").id, "globex-run")
    assert got is not None and got.name == got.id


def test_one_tenant_analysing_the_same_bytes_under_two_names_sees_each_runs_own_name(store: Store) -> None:
    with store.connect() as con:
        _run(con, "first", "acme", "ana@acme")
        documents.store_document(con, _document("notice-2025.md"), "first")
        _run(con, "second", "acme", "ana@acme")
        documents.store_document(con, _document("notice-2026-draft.md"), "second")
    with store.connect(read_only=True) as con:
        assert _seen(con, "first", "acme") == _everywhere("notice-2025.md")
        assert _seen(con, "second", "acme") == _everywhere("notice-2026-draft.md")


def test_a_linked_document_is_named_as_the_run_it_is_linked_from_named_it(store: Store) -> None:
    """A replay reads the original's documents: under the original's names, not the first
    uploader's; a link from no run names the document by its id."""
    with store.connect() as con:
        _run(con, "acme-run", "acme", "ana@acme")
        documents.store_document(con, _document("acme-secret-project-falcon.md"), "acme-run")
        _run(con, "globex-run", "globex", "gil@globex")
        documents.store_document(con, _document("globex-notice.md"), "globex-run")
        _run(con, "globex-replay", "globex", "gil@globex")
        documents.link_documents(con, "globex-replay", [_document("x").id], named_as="globex-run")
        _run(con, "bare", "globex", "gil@globex")
        documents.link_documents(con, "bare", [_document("x").id])
    with store.connect(read_only=True) as con:
        assert _seen(con, "globex-replay", "globex") == _everywhere("globex-notice.md")
        assert _seen(con, "bare", "globex")["listed"] == _document("x").id


def test_a_schema_5_ledger_upgrades_keeping_each_runs_own_document_name(tmp_path: Path) -> None:
    """Rows from before schema 6 are named from their run's `documents_ingested` event (the
    name its own request gave), else from the shared row's name."""
    store = Store(tmp_path / "warden.duckdb", lock_timeout_s=10)
    other = _document("other.md", "Other notice\n\nWe keep nothing.")
    with store.connect() as con:
        for run_id, tenant, name in (
            ("acme-run", "acme", "acme-secret-project-falcon.md"),
            ("globex-run", "globex", "globex-notice.md"),
        ):
            _run(con, run_id, tenant, "someone")
            documents.store_document(con, _document(name), run_id)
            audit.audit(
                con,
                run_id=run_id,
                root_run_id=run_id,
                tenant=tenant,
                actor="warden",
                event="documents_ingested",
                payload={"documents": [{"id": _document(name).id, "name": name, "format": "markdown"}]},
                key=f"{run_id}:documents_ingested",
            )
        _run(con, "no-event", "acme", "ana@acme")  # a run with no ingest event of its own
        documents.store_document(con, other, "no-event")
        # back to schema 5: no run_documents.name, the shared rows named by their first uploader
        con.execute("ALTER TABLE run_documents DROP COLUMN name")
        for document in (_document("acme-secret-project-falcon.md"), other):
            con.execute(
                "UPDATE documents SET name = ?, document_json = ? WHERE document_id = ?",
                [document.name, document.model_dump_json(), document.id],
            )
        con.execute("UPDATE meta SET value = '5' WHERE key = 'schema_version'")
    upgraded = Store(tmp_path / "warden.duckdb", lock_timeout_s=10)
    with upgraded.connect() as con:
        con.execute("SELECT 1")
    with upgraded.connect(read_only=True) as con:
        version = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        acme = _seen(con, "acme-run", "acme")
        globex = _seen(con, "globex-run", "globex")
        plain = _seen(con, "no-event", "acme")
        unnamed = con.execute("SELECT count(*) FROM run_documents WHERE name IS NULL").fetchone()[0]
        shared = con.execute("SELECT name FROM documents ORDER BY name").fetchall()
    assert version == (str(SCHEMA_VERSION),) and SCHEMA_VERSION >= 6
    assert acme == _everywhere("acme-secret-project-falcon.md")
    assert globex == _everywhere("globex-notice.md")
    assert plain == _everywhere("other.md")
    assert unnamed == 0
    assert sorted(shared) == sorted([(_document("x").id,), (other.id,)])  # no uploader's name left
    # a reopen finds nothing left to migrate
    again = Store(tmp_path / "warden.duckdb", lock_timeout_s=10)
    with again.connect() as con:
        assert con.execute("SELECT count(*) FROM run_documents WHERE name IS NULL").fetchone()[0] == 0
