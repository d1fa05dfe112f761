"""Starting a run: the request checked (tenant, document roots, upload type and size), recorded
and bound to the policy in force, then driven.

Where the documents are read depends on the caller and the engine. `start` (which drives the
run at once: `warden analyse`) reads them itself and stores them with the request, as below, so
the root run starts past ingest; a kill while it reads leaves no run. `submit` alone on the
embedded engine (a server's worker drives the run after answering with its id) leaves them to
the ingest node (a crash after the request is recorded re-reads them on resume). An engine that
runs the graph elsewhere (Temporal: workers on any host, sharing
only the ledger and the Temporal server) would have each worker read the paths from its own
disk, so an upload this service took into its state directory, or a document under a root only
this host mounts, could not be read there. With such an engine the service reads and masks the
documents itself, once the request has passed its checks, and stores them with the request in
the transaction that records it (the `documents_ingested` event chained right after
`run_requested`): the run's state then carries document ids, and its ingest node has nothing
to read. A refusal still stores nothing; a document that cannot be read fails the run at ingest
with its code, as on the embedded engine (the reason travels as ``document_error``)."""

from __future__ import annotations

import copy
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from warden.documents.safetext import clean_name
from warden.errors import UsageError
from warden.governance.policy import LoadedPolicy
from warden.graph.engine import Outcome
from warden.graph.ids import new_run_id
from warden.graph.nodes.ingest import ingested_payload, load_failure, read_set
from warden.graph.state import RunState
from warden.llm_config import model_configuration
from warden.schemas.document import Document
from warden.service._base import ServiceBase
from warden.service.errors import (
    DocumentRefused,
    UploadRefused,
)
from warden.service.principal import Principal
from warden.store import (
    documents,
    ledger,
    retrying_conflicts,
    runs,
)

__all__ = [
    "DEFAULT_RUNBOOK",
    "MAX_SET_DOCUMENTS",
    "MAX_UPLOAD_BYTES",
    "UPLOADS",
    "StartingOps",
    "Submitted",
    "builtin_runbook",
    "initial_state",
    "runbook_data",
]

DEFAULT_RUNBOOK = "privacy-policy-review"
UPLOADS = "uploads"
"""Folder of the state directory documents uploaded through the service are stored in."""
MAX_UPLOAD_BYTES = 20 * 2**20
"""The largest document `upload` stores (20 MiB; a notice is rarely over 2)."""
UPLOAD_SUFFIXES = {
    ".pdf": "pdf",
    ".html": "html",
    ".htm": "html",
    ".docx": "docx",
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
}
"""File name endings an upload may have, and the format each claims."""
SEVERITIES = ("info", "low", "medium", "high", "critical")
MAX_SET_DOCUMENTS = 20
"""The most documents one run reads as one notice (a notice and the few it refers to)."""


def builtin_runbook(name: str) -> Path:
    from importlib import resources

    return Path(str(resources.files("warden_runbooks"))) / f"{name}.yaml"


@dataclass(frozen=True)
class Submitted:
    """A run recorded and bound to its policy but not yet driven (see :meth:`Service.submit`)."""

    run_id: str
    tenant: str
    requester: str
    request: dict[str, Any]
    policy: LoadedPolicy


class StartingOps(ServiceBase):
    def check_document(self, policy: LoadedPolicy, tenant: str, path: str | Path) -> Path:
        """The document's real path, if it lies under the tenant's document roots or its
        uploads; a coded refusal otherwise (nothing of it is read or stored)."""
        real = Path(path).expanduser().resolve()
        roots = [*policy.document_roots(tenant), (self.home / UPLOADS / tenant).resolve()]
        if not any(real == root or real.is_relative_to(root) for root in roots):
            raise DocumentRefused(
                f"{path}: not under a document root of tenant '{tenant}'",
                fix="move it under one of: "
                + ", ".join(str(r) for r in roots)
                + " (or add its folder to the tenant's document_roots in the policy)",
            )
        return real

    def start(
        self,
        p: Principal,
        document: str | Path | Sequence[str | Path],
        *,
        tenant: str,
        runbook: str | Path | None = None,
    ) -> Outcome:
        """Request an analysis of one document, or of several read as one notice (a document
        set); runs until it finishes or waits for approval. One DuckDB connection serves the
        request's checks, its record and the graph (an open and a close cost ~30 and ~80 ms)."""
        with self._one_connection():
            return self.proceed(self.submit(p, document, tenant=tenant, runbook=runbook, read_here=True))

    def check_documents(
        self, policy: LoadedPolicy, tenant: str, paths: str | Path | Sequence[str | Path]
    ) -> list[Path]:
        """Every document of a set checked before anything is recorded: one outside the
        tenant's roots refuses the whole request, and a path given twice is a usage error."""
        given = [paths] if isinstance(paths, str | Path) else list(paths)
        if not given:
            raise UsageError("no document given", fix="give the notice to analyse (and any it refers to)")
        if len(given) > MAX_SET_DOCUMENTS:
            raise UsageError(
                f"{len(given)} documents given; a set holds at most {MAX_SET_DOCUMENTS}",
                fix="give the notice and the documents it refers to (--each analyses them one by one)",
                code="too_many_documents",
            )
        real = [self.check_document(policy, tenant, path) for path in given]
        twice = sorted({str(r) for r in real if real.count(r) > 1})
        if twice:
            raise UsageError(
                f"{', '.join(twice)}: given more than once",
                fix="give each document of the set once",
                code="duplicate_document",
            )
        return real

    def submit(
        self,
        p: Principal,
        document: str | Path | Sequence[str | Path],
        *,
        tenant: str,
        runbook: str | Path | None = None,
        runbook_text: str | None = None,
        read_here: bool = False,
    ) -> Submitted:
        """Check and record a request (the run is `running`, bound to the policy in force) without
        driving it: an entry point with background workers answers with the run id at once and
        hands the :class:`Submitted` to :meth:`proceed` (a run whose process dies in between
        restarts from its recorded request on `resume`).

        ``document`` may be several paths: a document set, analysed as one notice (a product
        notice and the main policy it refers to). Each is checked against the tenant's document
        roots first; the refusal of any one records and stores nothing.

        ``read_here``: read the documents now and store them with the request, as for an engine
        that runs the graph elsewhere, also on the embedded engine: :meth:`start`, which drives
        the run right after, so its root run starts past ingest (one transaction and one
        superstep fewer). A caller that answers with the run id before driving it (a server's
        background worker) leaves the reading to ingest, so the id comes back at once."""
        policy = self.policies.in_force(may_initialise=True)
        policy.tenant(tenant)
        if not p.member_of(tenant) or not policy.roles_of(tenant, p.user):
            raise UsageError(
                f"'{p.user}' is not a user of tenant '{tenant}'", fix="pass --as with a user of the tenant"
            )
        real = self.check_documents(policy, tenant, document)
        if runbook_text is not None:  # a runbook sent with the request (the server's upload)
            from warden.safeload import parse_text

            parsed = parse_text(runbook_text, source="uploaded runbook")
            runbook_path: Path | str = "uploaded runbook"
            data = parsed.data
        else:
            runbook_path = Path(runbook) if runbook else builtin_runbook(DEFAULT_RUNBOOK)
            data = runbook_data(runbook_path)
        shown = stored_paths(real)
        request: dict[str, Any] = {
            "document": shown[0],
            "runbook_path": str(runbook_path),
            "runbook": data,
        }
        if len(real) > 1:
            request["document_paths"] = shown
        # a path stored cleaned is not the file's: read it now, so the run never has to reopen it
        read_here = read_here or shown != [str(r) for r in real]
        loaded: list[Document] = []
        if read_here or not self.engine.in_process:  # workers may not see this host's disk
            # a 300-page PDF takes a while to read: past a second, let other processes at the store
            with self.store.release_after(1.0):
                loaded, failure = read_set(real)
            if failure is not None:
                request["document_error"] = clean_name(load_failure(failure))  # it quotes the name
            else:
                request["document_ids"] = [d.id for d in loaded]
        return self._record(p.user, tenant, request, policy, auth=p.auth, loaded=loaded)

    def proceed(self, submitted: Submitted) -> Outcome:
        """Drive a submitted run until it finishes or waits for approval."""
        state = initial_state(submitted.run_id, submitted.tenant, submitted.requester, submitted.request)
        with self._one_connection():
            return self.engine.start(self._context(submitted.policy), submitted.run_id, state)

    def start_request(
        self,
        requester: str,
        tenant: str,
        request: dict[str, Any],
        policy: LoadedPolicy,
        *,
        auth: str = "asserted",
    ) -> Outcome:
        """Record a run for a checked request (a document path or stored document ids, and the
        runbook's data) bound to `policy`, and drive it until it finishes or waits."""
        with self._one_connection():
            return self.proceed(self._record(requester, tenant, request, policy, auth=auth))

    def _record(
        self,
        requester: str,
        tenant: str,
        request: dict[str, Any],
        policy: LoadedPolicy,
        *,
        auth: str,
        loaded: Sequence[Document] = (),
    ) -> Submitted:
        """Record the run and its `run_requested` event; `loaded`: the documents the service read
        for an engine that runs the graph elsewhere, stored in the same transaction with the
        `documents_ingested` event the ingest node would have recorded (same key and payload)."""
        self.engine.open()  # a faulty checkpoint file is refused before a run is recorded
        run_id = new_run_id()
        if not self.engine.recovers_itself:  # the tree's checkpoints will be in this directory
            self.leases.mark_here(run_id)
        with self._one_connection():
            # two services storing the same document at once on Postgres: the loser writes again
            retrying_conflicts(
                lambda: self._write_request(run_id, requester, tenant, request, policy, auth, loaded)
            )
        return Submitted(run_id, tenant, requester, request, policy)

    def _write_request(
        self,
        run_id: str,
        requester: str,
        tenant: str,
        request: dict[str, Any],
        policy: LoadedPolicy,
        auth: str,
        loaded: Sequence[Document],
    ) -> None:
        with self.store.connect() as con:
            runs.create_run(
                con,
                runs.RunRow(
                    run_id, run_id, None, None, 0, run_id, "", tenant, requester, policy.sha256, request
                ),
                new=True,  # a fresh random id
            )
            for document in loaded:
                documents.store_document(con, document, run_id)
            stored = {d.id for d in loaded}  # store_document linked these to the run already
            linked = [i for i in request.get("document_ids") or [] if i not in stored]
            if linked:  # documents another run stored (a replay reads the original's)
                documents.link_documents(con, run_id, linked, named_as=request.get("replay_of"))
            requested = ledger.audit_record(
                run_id=run_id,
                root_run_id=run_id,
                tenant=tenant,
                actor=requester,
                event="run_requested",
                key=f"{run_id}:run_requested",
                payload={
                    "document": request.get("document"),
                    **({"document_set": request["document_paths"]} if request.get("document_paths") else {}),
                    "documents": request.get("document_ids"),
                    "runbook": request.get("runbook_path"),
                    "replay_of": request.get("replay_of"),
                    "policy_sha256": policy.sha256,
                    "auth": auth,
                    "llm_model": self.llm_settings.model,
                    "llm_planner": self.llm_settings.planner,
                    "model": model_configuration(self.llm_settings.model, self.llm_settings.base_url),
                },
            )
            # both events chained in this order by one flush (one INSERT)
            events = [requested]
            if loaded:
                events.append(
                    ledger.audit_record(
                        run_id=run_id,
                        root_run_id=run_id,
                        tenant=tenant,
                        actor="warden",
                        event="documents_ingested",
                        key=f"{run_id}:documents_ingested",
                        payload=ingested_payload(loaded),
                    )
                )
            ledger.flush(con, events)

    def upload_set(self, p: Principal, tenant: str, files: Sequence[tuple[str, IO[bytes]]]) -> list[Path]:
        """Store several uploaded documents read as one notice (see :meth:`upload`): the refusal
        of any one stores none of them. Each is read (at most one byte past the limit) only
        once the set's size is known to be allowed."""
        if not files:
            raise UploadRefused("no document was uploaded", fix="upload the notice", code="upload_empty")
        if len(files) > MAX_SET_DOCUMENTS:
            raise UploadRefused(
                f"{len(files)} documents uploaded; a set holds at most {MAX_SET_DOCUMENTS}",
                fix="upload the notice and the documents it refers to, not a whole library",
                code="too_many_documents",
            )
        stored: list[Path] = []
        try:
            for filename, handle in files:
                stored.append(self.upload(p, tenant, filename, handle.read(MAX_UPLOAD_BYTES + 1)))
        except BaseException:
            for path in stored:
                path.unlink(missing_ok=True)
            raise
        return stored

    def upload(self, p: Principal, tenant: str, filename: str, data: bytes) -> Path:
        """Store an uploaded document for `tenant` (of which `p` must be a user) under the state
        directory with a generated name; its type is taken from its content, and must agree with
        its name's ending. Refusals are coded and store nothing."""
        import uuid

        from warden.documents.detect import detect_format
        from warden.documents.errors import DocumentError

        policy = self.policies.in_force(may_initialise=True)
        # membership first: an unknown tenant answers like another tenant (names leak nothing)
        if (
            not p.member_of(tenant)
            or tenant not in policy.policy.tenants
            or not policy.roles_of(tenant, p.user)
        ):
            raise UsageError(
                f"'{p.user}' is not a user of tenant '{tenant}'",
                fix="upload for one of your tenants",
                code="forbidden",
            )
        if len(data) > MAX_UPLOAD_BYTES:
            raise UploadRefused(
                f"the upload is {len(data)} bytes, over the limit of {MAX_UPLOAD_BYTES}",
                fix="upload the notice itself, or split it",
                code="upload_too_large",
            )
        filename = clean_name(filename or "")  # quoted in refusals and reduced to the stored stem
        suffix = Path(filename).suffix.lower()
        claimed = UPLOAD_SUFFIXES.get(suffix)
        if claimed is None:
            raise UploadRefused(
                f"'{filename}': uploads must end in one of {', '.join(sorted(UPLOAD_SUFFIXES))}",
                fix="upload a PDF, HTML, DOCX, Markdown or text document",
                code="upload_type",
            )
        try:
            found = detect_format(data, source=Path(filename).name)
        except DocumentError as exc:
            raise UploadRefused(exc.message, fix=exc.fix, code="upload_type") from None
        if found != claimed and {found, claimed} != {"markdown", "text"}:
            raise UploadRefused(
                f"'{filename}' is named as {claimed} but its content is {found}",
                fix="upload the file under its real type",
                code="upload_type",
            )
        folder = self.home / UPLOADS / tenant
        folder.mkdir(parents=True, exist_ok=True)
        # a generated name; the original's stem, reduced to safe characters, only follows it so
        # people can tell their uploads apart (the inbox shows it)
        stem = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(filename).stem).strip("-.")[:60] or "upload"
        target = folder / f"{uuid.uuid4().hex}--{stem}{suffix}"
        with open(target, "xb") as fh:
            fh.write(data)
        return target


def stored_paths(paths: Sequence[Path]) -> list[str]:
    """The paths as a run records them: a name that is not UTF-8 (Linux names are bytes; Python
    hands them over with lone surrogates) could not be stored at all, and control characters
    in one would reach the terminal of whoever lists the runs."""
    return [clean_name(str(path)) for path in paths]


def initial_state(run_id: str, tenant: str, requester: str, request: dict[str, Any]) -> RunState:
    return {
        "run_id": run_id,
        "root_run_id": run_id,
        "parent_run_id": None,
        "parent_step_id": None,
        "depth": 0,
        "tenant": tenant,
        "requester": requester,
        "document_paths": list(request.get("document_paths") or [])
        or ([request["document"]] if request.get("document") else []),
        "document_ids": list(request.get("document_ids") or []),
        **({"document_error": request["document_error"]} if request.get("document_error") else {}),
        "runbook": request["runbook"],
        "status": "running",
    }


_parsed_lock = threading.Lock()
_PARSED: dict[tuple[str, str], Any] = {}
"""Runbook files' data by (path, text): what :func:`runbook_data` parsed (at most 32 entries)."""


def runbook_data(path: str | Path) -> Any:
    """The plain data of the runbook file at `path`, as ``read_runbook(path).data``: read every
    time, parsed once per text (the YAML parse was ~0.9 ms of every request for the same
    built-in runbook). Each caller gets its own copy; a file that does not parse raises as
    ``read_runbook`` does, every time."""
    from warden.safeload import parse_text, read_text

    text = read_text(path)
    key = (str(path), text)
    with _parsed_lock:
        data = _PARSED.get(key)
    if data is None:
        data = parse_text(text, source=str(path)).data
        with _parsed_lock:
            while len(_PARSED) >= 32:
                del _PARSED[next(iter(_PARSED))]
            _PARSED[key] = data
    return copy.deepcopy(data)
