"""Documents and their passages, so every citation can be shown in full later."""

from __future__ import annotations

from typing import Any

from warden.schemas.document import Document
from warden.store import known
from warden.store._util import insert_rows, now, to_json

__all__ = [
    "SET_NAME",
    "document_ids_of_run",
    "get_document",
    "link_documents",
    "passages_of",
    "store_document",
]

SET_NAME = """(SELECT min(d.name) || CASE WHEN count(*) > 1 THEN ' (+' || CAST(count(*) - 1 AS VARCHAR) || ')'
                   ELSE '' END
               FROM run_documents rd JOIN documents d USING (document_id) WHERE rd.run_id = {run})"""
"""What the run lists and the inbox call a run's documents: the (first by name) document, and
'(+N)' when the run reads a set of N more. ``{run}`` is the SQL of the root run's id."""

_PASSAGE_COLUMNS = {
    "document_id": "VARCHAR",
    "passage_id": "VARCHAR",
    "idx": "INTEGER",
    "text": "VARCHAR",
    "headings_json": "VARCHAR",
    "page": "INTEGER",
    "start_offset": "BIGINT",
    "end_offset": "BIGINT",
}


def store_document(con: Any, document: Document, run_id: str) -> None:
    knows = known.of(con)
    if knows is not None:  # the run's documents (warden.store.known)
        knows.documents.setdefault(run_id, set()).add(document.id)
    con.execute(
        """INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING""",
        [
            document.id,
            document.name,
            document.format,
            document.pages,
            document.text_chars,
            len(document.passages),
            now(),
            document.model_dump_json(),
        ],
    )
    insert_rows(
        con,
        "passages",
        _PASSAGE_COLUMNS,
        [
            [document.id, p.id, p.index, p.text, to_json(p.headings), p.page, p.start, p.end]
            for p in {p.id: p for p in document.passages}.values()
        ],
        "ON CONFLICT DO NOTHING",
    )
    con.execute("INSERT INTO run_documents VALUES (?, ?) ON CONFLICT DO NOTHING", [run_id, document.id])


def get_document(con: Any, document_id: str) -> Document | None:
    found = con.execute("SELECT document_json FROM documents WHERE document_id = ?", [document_id]).fetchone()
    return Document.model_validate_json(found[0]) if found else None


def passages_of(con: Any, passage_ids: list[str]) -> list[dict[str, Any]]:
    if not passage_ids:
        return []
    marks = ", ".join("?" for _ in passage_ids)
    cur = con.execute(
        f"SELECT * FROM passages WHERE passage_id IN ({marks}) ORDER BY document_id, idx", passage_ids
    )
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def document_ids_of_run(con: Any, run_id: str) -> list[str]:
    return [
        r[0]
        for r in con.execute(
            "SELECT document_id FROM run_documents WHERE run_id = ? ORDER BY document_id", [run_id]
        ).fetchall()
    ]


def link_documents(con: Any, run_id: str, document_ids: list[str]) -> None:
    """A run reads documents another run stored (a replay reads the original's)."""
    knows = known.of(con)
    if knows is not None:  # the run's documents (warden.store.known)
        knows.documents.setdefault(run_id, set()).update(document_ids)
    for document_id in document_ids:
        con.execute("INSERT INTO run_documents VALUES (?, ?) ON CONFLICT DO NOTHING", [run_id, document_id])
