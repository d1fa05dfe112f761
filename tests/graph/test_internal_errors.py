"""An exception out of the graph (a bug, or a value the store refuses) fails the run with the
error and the way back, instead of leaving it 'running' for good; resume retries it."""

from __future__ import annotations

from pathlib import Path

import pytest
from _wardencli import ACME_NOTICE, ACME_POLICY

from warden.graph import nodes
from warden.graph.context import RunContext
from warden.service import Service


def service(home: Path) -> Service:
    """A fresh service is a fresh process: its engine compiles the graph from the nodes as
    they are now (build_graph reads them from warden.graph.nodes)."""
    return Service(home, policy=ACME_POLICY)


def test_an_exception_in_a_node_fails_the_run_with_its_reason_and_resume_retries_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_plan = nodes.plan

    def broken_plan(state: dict, ctx: RunContext) -> dict:
        raise RuntimeError("planner bug")

    monkeypatch.setattr(nodes, "plan", broken_plan)
    svc = service(tmp_path / "home")
    with pytest.raises(RuntimeError, match="planner bug"):
        svc.start(svc.principal("ana@acme", "asserted", writing=True), ACME_NOTICE, tenant="acme")
    (row,) = svc.store.query("SELECT * FROM runs")
    root = row["run_id"]
    assert row["status"] == "failed"
    assert row["status_reason"].startswith("internal error (RuntimeError: planner bug)")
    assert f"warden resume {root}" in row["status_reason"]
    assert row["finished_at"] is not None
    events = [e["event"] for e in svc.store.query("SELECT event FROM audit_events ORDER BY seq")]
    assert events[-1] == "status:failed"

    monkeypatch.setattr(nodes, "plan", real_plan)
    fresh = service(tmp_path / "home")
    outcome = fresh.resume(fresh.principal("ana@acme"), root)
    assert outcome.status == "waiting_approval"
    (row,) = fresh.store.query("SELECT * FROM runs")
    assert row["status"] == "waiting_approval"
    assert row["finished_at"] is None


def test_a_warden_error_out_of_the_graph_leaves_the_run_resumable_as_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from warden.errors import WardenError

    def busy_plan(state: dict, ctx: RunContext) -> dict:
        raise WardenError("the store is busy", fix="try again", code="store_busy")

    monkeypatch.setattr(nodes, "plan", busy_plan)
    svc = service(tmp_path / "home")
    with pytest.raises(WardenError, match="busy"):
        svc.start(svc.principal("ana@acme", "asserted", writing=True), ACME_NOTICE, tenant="acme")
    (row,) = svc.store.query("SELECT * FROM runs")
    assert row["status"] == "running"
