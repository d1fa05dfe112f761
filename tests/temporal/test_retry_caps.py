"""On Temporal a step's retries stay under the tree's caps as on the embedded engine
(tests/graph/test_retry_caps.py): the step activity runs the same node, whose retries the time
cap cuts (``timed_out``, the reason saying so) and the cost cap holds (``budget_exceeded``).
The activity's own deadline and retries (a lost worker) are not the runbook's retry policy."""

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


def _time() -> dict[str, Any]:
    retry = {"max_attempts": 3, "backoff_s": 2, "retry_on": ["timeout"]}
    return runbook("retry-time", [slow("stuck", seconds=30, retry=retry)], limits={"max_duration_s": 3})


def _cost() -> dict[str, Any]:
    retry = {"max_attempts": 5, "backoff_s": 0, "retry_on": ["error"]}
    spend = {"id": "spend", "analyser": "wtest_costly", "config": {"usd": 0.4, "fail": True}, "retry": retry}
    return runbook("retry-cost", [spend], limits={"max_cost_usd": 1.0})


def test_retries_on_temporal_stop_at_the_trees_time_and_cost_caps(
    temporal_address: str, tmp_path: Path
) -> None:
    rule = auto_rule("tests", ["retry-time", "retry-cost"], 1)
    policy = write_yaml(tmp_path / "policy.yaml", acme_policy_data(approval={"auto_approve": [rule]}))
    settings = TemporalSettings(
        address=temporal_address,
        task_queue=f"warden-retry-caps-{time.time_ns()}",
        heartbeat_s=3.0,
        wait_s=WAIT_S,
    )
    cluster = Cluster(tmp_path / "home", settings, policy)
    cluster.home.mkdir()
    try:
        cluster.start_workers(2)
        service = cluster.service()
        ana = service.principal("ana@acme", writing=True)
        books = {name: write_yaml(tmp_path / f"{name}.yaml", build()) for name, build in
                 (("time", _time), ("cost", _cost))}  # fmt: skip

        def run(name: str) -> tuple[str, Any]:
            return name, service.start(ana, ACME_NOTICE, tenant="acme", runbook=books[name])

        with ThreadPoolExecutor(2) as pool:
            outcomes = dict(pool.map(run, books))
        assert {n: o.status for n, o in outcomes.items()} == {
            "time": "timed_out",
            "cost": "budget_exceeded",
        }, outcomes

        def rows(sql: str, *params: Any) -> list[dict[str, Any]]:
            return service.store.query(sql, list(params))

        timed = outcomes["time"].root_run_id
        [run_row] = rows("SELECT * FROM runs WHERE run_id = ?", timed)
        assert "3s time cap ended its retries after attempt 1 of 3" in run_row["status_reason"], run_row
        [step] = rows("SELECT * FROM steps WHERE run_id = ?", timed)
        # before: 3 s + 2 s + 3 s + 4 s + 3 s
        assert (step["status"], step["attempts"]) == ("timed_out", 1) and step["duration_s"] < 4.5, step

        cost = outcomes["cost"].root_run_id
        [run_row] = rows("SELECT * FROM runs WHERE run_id = ?", cost)
        assert "a retry (est. $0.0000) would pass the cap" in run_row["status_reason"], run_row
        assert run_row["cost_usd"] == pytest.approx(1.2), "before: five attempts spent $2.00"
        [step] = rows("SELECT * FROM steps WHERE run_id = ?", cost)
        assert (step["status"], step["attempts"]) == ("failed", 3), step
    finally:
        cluster.stop()
