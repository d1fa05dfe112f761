"""A Temporal worker started with a policy file wider than the one a run was bound to (a $5
cost cap against the run's $1) must not widen the run: `warden worker` reads no policy file, it
takes each run's bound policy from the ledger by hash. Probed by an attacker's review
(tests/attacks/test_attacks_planner.py, section 5); it held, and stays tested here."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from _cluster import WAIT_S, Cluster
from _wardencli import ACME_NOTICE, PLUGINS, acme_policy_data, auto_rule, runbook, slow, write_yaml

from warden.catalogue import PATH_ENV
from warden.graph.temporal.settings import TemporalSettings


def test_a_worker_given_a_wider_policy_file_still_stops_the_run_at_its_bound_cost_cap(
    temporal_address: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PATH_ENV, str(PLUGINS))
    monkeypatch.setenv("WARDEN_ANALYSER_PATH", str(PLUGINS))
    rule = auto_rule("tests", ["wide-cost"], 0, max_cost_usd=1.0)
    bound = write_yaml(
        tmp_path / "bound.yaml",
        acme_policy_data(
            limits={"max_cost_usd": 1.0}, approval={"required_roles": ["dpo"], "auto_approve": [rule]}
        ),
    )
    wider = write_yaml(
        tmp_path / "wider.yaml",
        acme_policy_data(
            limits={"max_cost_usd": 5.0}, approval={"required_roles": ["dpo"], "auto_approve": [rule]}
        ),
    )

    class WiderWorkers(Cluster):
        def env(self) -> dict[str, str]:
            return {**super().env(), "WARDEN_POLICY": str(wider)}

    settings_ = TemporalSettings(
        address=temporal_address, task_queue=f"warden-rev3-{time.time_ns()}", heartbeat_s=3.0, wait_s=WAIT_S
    )
    cluster = WiderWorkers(tmp_path / "home", settings_, bound)
    cluster.home.mkdir()
    try:
        svc = cluster.service()  # the bound policy is put in force by the first service
        cluster.start_workers(1)
        book = write_yaml(
            tmp_path / "wide-cost.yaml",
            runbook(
                "wide-cost",
                [{"id": "spend", "analyser": "wtest_costly", "config": {"usd": 2.0}}, slow("after")],
            ),
        )
        outcome = svc.start(svc.principal("ana@acme", writing=True), ACME_NOTICE, tenant="acme", runbook=book)
        assert outcome.status == "budget_exceeded", outcome
        root = outcome.root_run_id
        done = {r["step_id"] for r in svc.store.query("SELECT step_id FROM steps WHERE run_id = ?", [root])}
        assert done == {"spend"}
    finally:
        cluster.stop()
