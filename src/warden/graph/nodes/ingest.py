"""ingest: read the documents of a root run into the store (children reuse their parent's).

Several documents are one set, read as one notice by the steps (in the order given)."""

from __future__ import annotations

from warden.errors import LoadError
from warden.graph.context import RunContext
from warden.graph.ledger import pending, tagged
from warden.graph.nodes._common import event, set_status
from warden.graph.state import RunState, StateUpdate
from warden.store import documents

__all__ = ["ingest", "reads_documents"]


def reads_documents(state: RunState) -> bool:
    """Whether ingest has anything to do: a child reuses its parent's documents, so the graph
    starts it at the next node instead of spending a superstep and a checkpoint on nothing."""
    return not state.get("document_ids") and bool(state.get("document_paths"))


def ingest(state: RunState, ctx: RunContext) -> StateUpdate:
    if not reads_documents(state):
        return {}
    from warden.documents import load_document
    from warden.documents.masking import masked

    loaded, failure = [], None
    # a 300-page PDF takes a while to read: past a second, let other processes at the store
    with ctx.store.release_after(1.0):
        for path in state["document_paths"]:
            try:
                loaded.append(load_document(path))
            except LoadError as exc:
                failure = exc
                break
    if failure is not None:
        return set_status(ctx, state, "failed", f"document could not be read ({failure.code}): {failure}")
    # identifiers a notice never needs (IBANs, card numbers) are masked before anything is kept;
    # a document given twice in a set (the same bytes under two names) counts once
    loaded = list({d.id: masked(d) for d in loaded}.values())
    with ctx.store.connect() as con:
        for document in loaded:
            documents.store_document(con, document, state["run_id"])
    # the event rides in the checkpoint with the document ids and is chained with the run's next
    # flush (the approval's transaction, or a refusal's), in the order it happened: see
    # graph/ledger.py. Its two statements (key and chain head, insert) join that flush's.
    ingested = event(
        state,
        "documents_ingested",
        payload={
            "documents": [
                {"id": d.id, "name": d.name, "format": d.format, "passages": len(d.passages)} for d in loaded
            ]
        },
    )
    return {"document_ids": [d.id for d in loaded], "ledger": [*pending(state), *tagged([ingested])]}
