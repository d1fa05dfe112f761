"""The run workflow schedules the ``warden.ingest`` activity only when the tree still has its
documents to read: the service reads and stores them with the request on the Temporal engine
(so the node would return nothing), and a child reuses its parent's. The skip is a
``workflow.patched`` branch, so histories recorded before it replay as they ran."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from _cluster import Cluster
from _wardencli import ACME_NOTICE
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner

from warden.graph.nodes.ingest import reads_documents
from warden.graph.temporal.workflow import (
    SIGNED_DECISIONS,
    SKIP_READ_INGEST,
    WORKFLOW,
    RunWorkflow,
    _reads_documents,
)
from warden.service import Service

OLD_HISTORY = Path(__file__).parent / "histories" / "ingest-before-patch.json"
"""A root run's history (ingest, plan, guard, approval_open, then waiting for a decision)
recorded by the workflow of main at ffa9466, before the patch: its service had read the
documents, and its ingest activity returned nothing."""


def _history(service: Service, run_id: str) -> WorkflowHistory:
    engine: Any = service.engine

    async def fetch() -> WorkflowHistory:
        return await (await engine._handle(run_id)).fetch_history()

    return asyncio.run(fetch())


def _activities(history: WorkflowHistory) -> list[str]:
    return [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]


def _patches(history: WorkflowHistory) -> list[str]:
    """The patch ids of the history's patch markers (the SDK core's ``core_patch`` marker, its
    ``patch-data`` detail: ``{"id": ..., "deprecated": ...}``)."""
    found = []
    for e in history.events:
        marker = e.marker_recorded_event_attributes
        if e.HasField("marker_recorded_event_attributes") and marker.marker_name == "core_patch":
            found.append(json.loads(marker.details["patch-data"].payloads[0].data)["id"])
    return found


def _replays(history: WorkflowHistory, workflow_class: type = RunWorkflow) -> None:
    """Replay `history` with `workflow_class` (RunWorkflow in the worker's sandbox; a class of
    this module outside it: the sandbox would re-import this module, the cluster helpers too)."""
    runner = {} if workflow_class is RunWorkflow else {"workflow_runner": UnsandboxedWorkflowRunner()}
    asyncio.run(Replayer(workflows=[workflow_class], **runner).replay_workflow(history))


@workflow.defn(name=WORKFLOW)
class _SkipsIngestUnpatched(RunWorkflow):
    """The change without its patch: a history with the ingest activity does not replay."""

    @workflow.run
    async def run(self, request: dict[str, Any]) -> dict[str, Any]:
        return await super().run(request)

    async def _tree(self, state: dict[str, Any]) -> dict[str, Any]:
        state = {**state, "document_ids": state.get("document_ids") or ["x"], "document_paths": []}
        self._phase = "running"
        state = await self._apply("plan", state, "record the runbook")
        state = await self._apply("guard", state, "check the runbook against the policy")
        return await self._approval(state)


@pytest.mark.parametrize(
    "state",
    [
        {"document_paths": ["a.md"]},
        {"document_paths": ["a.md"], "document_ids": ["d1"]},
        {"document_paths": ["a.md"], "document_ids": [], "document_error": "unreadable"},
        {"document_ids": ["d1"]},
        {},
    ],
)
def test_the_workflow_reads_documents_when_the_ingest_node_would(state: dict[str, Any]) -> None:
    assert _reads_documents(state) == reads_documents(state)  # type: ignore[arg-type]


def test_a_history_recorded_before_the_patch_replays_with_its_ingest_activity() -> None:
    old = WorkflowHistory.from_json("run-old", OLD_HISTORY.read_text(encoding="utf-8"))
    assert _activities(old)[0] == "warden.ingest" and _patches(old) == []
    _replays(old)  # the patched code takes the old branch: no nondeterminism
    with pytest.raises(Exception, match=r"(?i)nondetermin"):
        _replays(old, _SkipsIngestUnpatched)  # (the fixture does exercise the branch)


@pytest.mark.slow
def test_a_tree_whose_documents_were_read_schedules_no_ingest_one_that_could_not_read_does(
    cluster: Cluster, tmp_path: Path
) -> None:
    cluster.start_workers(1)
    service = cluster.service()
    ana = service.principal("ana@acme", writing=True)

    started = service.start(ana, ACME_NOTICE, tenant="acme")
    assert started.status == "waiting_approval", started
    root = started.root_run_id
    dora = service.principal("dora@acme")
    done = service.decide(dora, root, "approve", role="dpo")
    while done.waiting:
        done = service.decide(dora, done.waiting[0]["run_id"], "approve", role="dpo")
    assert done.status == "completed", done
    children = [
        r["run_id"]
        for r in service.store.query(
            "SELECT run_id FROM runs WHERE root_run_id = ? AND run_id <> ?", [root, root]
        )
    ]
    assert children
    for run_id in [root, *children]:
        history = _history(service, run_id)
        names = _activities(history)
        assert "warden.ingest" not in names and names[:2] == ["warden.plan", "warden.guard"], (run_id, names)
        # every run of this tree took a human's decision, signed (graph/temporal/signing.py)
        assert _patches(history) == [SKIP_READ_INGEST, SIGNED_DECISIONS]
        _replays(history)  # and a history of the patched code replays with it

    # a document the service could not read travels as document_error: ingest still runs, and
    # fails the run with it, as before the patch
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.7 not really a PDF")
    failed = service.start(ana, broken, tenant="acme")
    assert failed.status == "failed" and "could not be read" in (failed.reason or ""), failed
    history = _history(service, failed.root_run_id)
    assert _activities(history) == ["warden.ingest", "warden.finish"]
    assert _patches(history) == []
    _replays(history)
