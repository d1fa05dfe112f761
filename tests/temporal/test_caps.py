"""The caps stop a tree spread across workers with the statuses the embedded engine gives
(tests/graph/test_caps_and_refusals.py has the same runbooks): depth, cost at run time, time.
Three trees at once on two workers; the policy's auto-approval rule decides, so no human."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from _cluster import WAIT_S, Cluster
from _wardencli import ACME_NOTICE, acme_policy_data, auto_rule, runbook, slow, write_yaml

from warden.graph.temporal.settings import TemporalSettings

pytestmark = pytest.mark.slow

EMIT, COSTLY = "wtest_emit", "wtest_costly"


def _depth() -> dict[str, Any]:
    grandchild = runbook("too-deep", [slow("never")])
    generated = runbook("gen-depth", [slow("gen-first"), {"id": "nest", "execute_workflow": grandchild}])
    return runbook(
        "cap-depth",
        [
            {"id": "plan", "analyser": EMIT, "config": {"runbook": generated}},
            {"id": "checks", "execute_workflow": "{{ steps.plan.output }}", "limits": {"max_depth": 1}},
        ],
        limits={"max_depth": 2},
    )


def _cost() -> dict[str, Any]:
    return runbook(
        "cap-cost",
        [{"id": "spend", "analyser": COSTLY, "config": {"usd": 2.0, "tag": "spend"}}, slow("after")],
        limits={"max_cost_usd": 1.0},
    )


def _time() -> dict[str, Any]:
    return runbook(
        "cap-time", [slow("first"), slow("sleepy", seconds=4), slow("after")], limits={"max_duration_s": 1}
    )


def test_depth_cost_and_time_caps_stop_trees_spread_across_workers(
    temporal_address: str, tmp_path: Path
) -> None:
    rule = auto_rule("tests", ["cap-depth", "cap-cost", "cap-time"], 1)
    policy = write_yaml(tmp_path / "policy.yaml", acme_policy_data(approval={"auto_approve": [rule]}))
    settings = TemporalSettings(
        address=temporal_address, task_queue=f"warden-caps-{time.time_ns()}", heartbeat_s=3.0, wait_s=WAIT_S
    )
    cluster = Cluster(tmp_path / "home", settings, policy)
    cluster.home.mkdir()
    try:
        cluster.start_workers(2)
        service = cluster.service()
        ana = service.principal("ana@acme", writing=True)
        books = {name: write_yaml(tmp_path / f"{name}.yaml", build()) for name, build in
                 (("depth", _depth), ("cost", _cost), ("time", _time))}  # fmt: skip

        def run(name: str) -> tuple[str, Any]:
            return name, service.start(ana, ACME_NOTICE, tenant="acme", runbook=books[name])

        with ThreadPoolExecutor(3) as pool:
            outcomes = dict(pool.map(run, books))
        assert {n: o.status for n, o in outcomes.items()} == {
            "depth": "depth_exceeded",
            "cost": "budget_exceeded",
            "time": "timed_out",
        }, outcomes

        def rows(sql: str, *params: Any) -> list[dict[str, Any]]:
            return service.store.query(sql, list(params))

        def steps(run_id: str) -> dict[str, dict[str, Any]]:
            return {r["step_id"]: r for r in rows("SELECT * FROM steps WHERE run_id = ?", run_id)}

        depth = outcomes["depth"].root_run_id
        [child] = rows("SELECT * FROM runs WHERE run_id = ?", f"{depth}.checks")
        assert child["status"] == "depth_exceeded" and "depth_limit" in child["status_reason"]
        assert steps(f"{depth}.checks") == {}, "a refused child runs nothing"
        assert steps(depth)["checks"]["status"] == "depth_exceeded"

        cost = outcomes["cost"].root_run_id
        [row] = rows("SELECT * FROM runs WHERE run_id = ?", cost)
        assert "would pass the cap" in row["status_reason"] and row["cost_usd"] == pytest.approx(2.0)
        assert set(steps(cost)) == {"spend"}
        found = rows("SELECT finding_id FROM findings WHERE run_id = ?", cost)
        assert [f["finding_id"] for f in found] == ["wtest_costly-spend"]

        timed = outcomes["time"].root_run_id
        done = steps(timed)
        assert (done["first"]["status"], done["sleepy"]["status"]) == ("completed", "timed_out")
        assert "after" not in done and done["sleepy"]["duration_s"] < 3.5
        found = rows("SELECT finding_id FROM findings WHERE run_id = ?", timed)
        assert [f["finding_id"] for f in found] == ["wtest_slow-first"]
    finally:
        cluster.stop()
