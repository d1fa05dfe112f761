"""ingest: read the documents of a root run into the store (children reuse their parent's).

Several documents are one set, read as one notice by the steps (in the order given).

With an engine that runs the graph in other processes, on hosts that may not see the
service's disk (Temporal), the service reads the documents itself when it takes the request
(:func:`read_set`), then stores them and records the event :func:`ingested_payload` describes
with the request (see ``StartingOps.submit``); the run's state then carries their ids and this
node has nothing to do. A document the service could not read travels as ``document_error``, and this
node fails the run with it, as if it had read the path itself."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from warden.errors import LoadError
from warden.graph.context import RunContext
from warden.graph.ledger import pending, tagged
from warden.graph.nodes._common import event, set_status
from warden.graph.state import RunState, StateUpdate
from warden.schemas.document import Document
from warden.store import documents

__all__ = ["ingest", "ingested_payload", "load_failure", "read_set", "reads_documents"]


def reads_documents(state: RunState) -> bool:
    """Whether ingest has anything to do: a child reuses its parent's documents, so the graph
    starts it at the next node instead of spending a superstep and a checkpoint on nothing."""
    return not state.get("document_ids") and bool(state.get("document_paths"))


def read_set(paths: Sequence[str | Path]) -> tuple[list[Document], LoadError | None]:
    """The documents at `paths`, masked, each once; or the error of the first that cannot be
    read (then nothing). Identifiers a notice never needs (IBANs, card numbers) are masked
    before anything is kept; a document given twice in a set (the same bytes under two names)
    counts once."""
    from warden.documents import load_document
    from warden.documents.masking import masked

    loaded = []
    for path in paths:
        try:
            loaded.append(load_document(path))
        except LoadError as exc:
            return [], exc
    return list({d.id: masked(d) for d in loaded}.values()), None


def load_failure(error: LoadError) -> str:
    """The reason a run fails with when one of its documents cannot be read. It names the file,
    not its path: every reader of the run sees the reason, and a server's uploads directory is
    none of theirs."""
    message = str(error)
    if error.source:
        message = message.replace(error.source, Path(error.source).name)
    return f"document could not be read ({error.code}): {message}"


def ingested_payload(loaded: Sequence[Document]) -> dict[str, Any]:
    """The `documents_ingested` audit event's payload (replays read the set's order from it)."""
    return {
        "documents": [
            {"id": d.id, "name": d.name, "format": d.format, "passages": len(d.passages)} for d in loaded
        ]
    }


def ingest(state: RunState, ctx: RunContext) -> StateUpdate:
    if not reads_documents(state):
        return {}
    if state.get("document_error"):  # the service could not read a document it took
        return set_status(ctx, state, "failed", state["document_error"])
    # a 300-page PDF takes a while to read: past a second, let other processes at the store
    with ctx.store.release_after(1.0):
        loaded, failure = read_set(state["document_paths"])
    if failure is not None:
        return set_status(ctx, state, "failed", load_failure(failure))
    with ctx.store.connect() as con:
        for document in loaded:
            documents.store_document(con, document, state["run_id"])
    # the event rides in the checkpoint with the document ids and is chained with the run's next
    # flush (the approval's transaction, or a refusal's), in the order it happened: see
    # graph/ledger.py. Its two statements (key and chain head, insert) join that flush's.
    ingested = event(state, "documents_ingested", payload=ingested_payload(loaded))
    return {"document_ids": [d.id for d in loaded], "ledger": [*pending(state), *tagged([ingested])]}
