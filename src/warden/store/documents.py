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

SET_NAME = """(SELECT min(rd.name)
                   || CASE WHEN count(*) > 1 THEN ' (+' || CAST(count(*) - 1 AS VARCHAR) || ')' ELSE '' END
               FROM run_documents rd WHERE rd.run_id = {run})"""
"""What the run lists and the inbox call a run's documents: the (first by name) document, and
'(+N)' when the run reads a set of N more. ``{run}`` is the SQL of the root run's id.

Names are the run's own (``run_documents.name``): a document is stored once by its sha256 for
every tenant, so the shared row is named by its id (``documents.name`` and the name in
``document_json``; rows stored before schema 6 may still hold their first uploader's name), and
never shown."""

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
    # the shared row keeps nothing of its uploader: named by its id (the run's name is its link's)
    con.execute(
        """INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING""",
        [
            document.id,
            document.id,
            document.format,
            document.pages,
            document.text_chars,
            len(document.passages),
            now(),
            document.model_copy(update={"name": document.id}).model_dump_json(),
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
    con.execute(
        "INSERT INTO run_documents (run_id, document_id, name) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        [run_id, document.id, document.name],
    )


def get_document(con: Any, document_id: str, run_id: str | None = None) -> Document | None:
    """The stored document, named as `run_id` (a root run that reads it) named it.

    The stored row is shared by every tenant that uploaded the same bytes, and its name is the
    first uploader's: it is never handed out. Without `run_id`, or for a run that does not read
    the document, the document is named by its id."""
    found = con.execute(
        """SELECT d.document_json, rd.name FROM documents d
           LEFT JOIN run_documents rd ON rd.document_id = d.document_id AND rd.run_id = ?
           WHERE d.document_id = ?""",
        [run_id or "", document_id],
    ).fetchone()
    if not found:
        return None
    document = Document.model_validate_json(found[0])
    return document.model_copy(update={"name": found[1] or document.id})


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


def link_documents(con: Any, run_id: str, document_ids: list[str], named_as: str | None = None) -> None:
    """A run reads documents another run stored (a replay reads the original's): named as the
    run `named_as` (the original) named them, or by their id (never by the shared row's name,
    which is whoever stored the bytes first)."""
    knows = known.of(con)
    if knows is not None:  # the run's documents (warden.store.known)
        knows.documents.setdefault(run_id, set()).update(document_ids)
    for document_id in document_ids:
        con.execute(
            """INSERT INTO run_documents (run_id, document_id, name)
               SELECT ?, ?, coalesce((SELECT name FROM run_documents WHERE run_id = ? AND document_id = ?), ?)
               ON CONFLICT DO NOTHING""",
            [run_id, document_id, named_as or "", document_id, document_id],
        )
