"""Caps (depth, cost, time), the kill switch, and generated runbooks the guard refuses.

Every scenario has its own policy, runbook and state directory, and they all start at once.
Root runbooks are approved by a policy auto-approval rule (recorded as such), so each
scenario needs a single `warden analyse` to reach its cap; the kill switch scenario also
approves a child after the switch is engaged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from _wardencli import (
    ACME_NOTICE,
    Done,
    Warden,
    acme_policy_data,
    auto_rule,
    runbook,
    slow,
    write_yaml,
)


def _emit(step_id: str, generated: dict[str, Any]) -> dict[str, Any]:
    return {"id": step_id, "analyser": "wtest_emit", "config": {"runbook": generated}}


def _depth() -> tuple[dict, dict]:
    grandchild = runbook("too-deep", [slow("never")])
    generated = runbook("gen-depth", [slow("gen-first"), {"id": "nest", "execute_workflow": grandchild}])
    root = runbook(
        "cap-depth",
        [
            _emit("plan", generated),
            {"id": "checks", "execute_workflow": "{{ steps.plan.output }}", "limits": {"max_depth": 1}},
        ],
        limits={"max_depth": 2},
    )
    return root, acme_policy_data(approval={"auto_approve": [auto_rule("tests", ["cap-depth"], 1)]})


def _cost_at_runtime() -> tuple[dict, dict]:
    root = runbook(
        "cap-cost",
        [
            {"id": "spend", "analyser": "wtest_costly", "config": {"usd": 2.0, "tag": "spend"}},
            slow("after"),
        ],
        limits={"max_cost_usd": 1.0},
    )
    return root, acme_policy_data(approval={"auto_approve": [auto_rule("tests", ["cap-cost"])]})


def _cost_at_the_guard() -> tuple[dict | None, dict]:
    # the bundled root runbook; the policy caps acme below the planner's $0.05 estimate
    return None, acme_policy_data(limits={"max_cost_usd": 0.01})


def _time() -> tuple[dict, dict]:
    root = runbook(
        "cap-time",
        [slow("first"), slow("sleepy", seconds=4), slow("after")],
        limits={"max_duration_s": 1},
    )
    return root, acme_policy_data(approval={"auto_approve": [auto_rule("tests", ["cap-time"])]})


def _kill_before() -> tuple[dict, dict]:
    policy = acme_policy_data(kill_switch={"engaged": True, "reason": "incident 42"})
    return runbook("kill-before", [slow("never")]), policy


def _kill_between() -> tuple[dict, dict]:
    child = runbook("kill-child", [slow("inner")])
    root = runbook("kill-between", [slow("first"), {"id": "child", "execute_workflow": child}])
    # the rule covers depth 0 only: the root runs, the child waits for a human
    return root, acme_policy_data(approval={"auto_approve": [auto_rule("tests", ["kill-between"])]})


def _refused() -> tuple[dict, dict]:
    foreign_system = runbook(
        "gen-foreign",
        [{"id": "scan-hr", "analyser": "wtest_scan", "system": "globex-hr", "config": {"tag": "hr"}}],
    )
    not_allowed = runbook(
        "gen-not-allowed",
        [
            {"id": "p", "analyser": "policy_practices", "input": "document"},
            {"id": "t", "analyser": "gdpr_transparency", "input": "p"},
        ],
    )
    root = runbook(
        "gen-refused",
        [
            _emit("plan-foreign", foreign_system),
            {"id": "run-foreign", "execute_workflow": "{{ steps.plan-foreign.output }}"},
            _emit("plan-not-allowed", not_allowed),
            {"id": "run-not-allowed", "execute_workflow": "{{ steps.plan-not-allowed.output }}"},
            slow("after"),
        ],
    )
    policy = acme_policy_data(approval={"auto_approve": [auto_rule("tests", ["gen-refused"], 1)]})
    acme = policy["tenants"]["acme"]
    acme["analysers"] = [a for a in acme["analysers"] if a != "gdpr_transparency"]
    return root, policy


def _oversize() -> tuple[dict, dict]:
    generated = runbook("gen-oversize", [slow("never")])
    root = runbook(
        "oversize",
        [
            {"id": "plan", "analyser": "wtest_emit", "config": {"runbook": generated, "oversize_int": True}},
            {"id": "checks", "execute_workflow": "{{ steps.plan.output }}"},
            slow("after"),
        ],
    )
    return root, acme_policy_data(approval={"auto_approve": [auto_rule("tests", ["oversize"])]})


SCENARIOS = {
    "depth": _depth,
    "cost_runtime": _cost_at_runtime,
    "cost_guard": _cost_at_the_guard,
    "time": _time,
    "kill_before": _kill_before,
    "kill_between": _kill_between,
    "refused": _refused,
    "oversize": _oversize,
}


@dataclass
class Scenario:
    w: Warden
    policy_path: Path
    outcome: dict[str, Any]
    done: Done

    @property
    def root(self) -> str:
        return self.outcome["run_id"]


@pytest.fixture(scope="module")
def scenarios(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Scenario]:
    tmp = tmp_path_factory.mktemp("caps")
    started = {}
    for name, build in SCENARIOS.items():
        root, policy = build()
        policy_path = write_yaml(tmp / name / "policy.yaml", policy)
        w = Warden(home=tmp / name / "home", policy=policy_path)
        args = ["analyse", str(ACME_NOTICE), "--tenant", "acme", "--as", "ana@acme", "--json"]
        if root is not None:
            args += ["--runbook", str(write_yaml(tmp / name / "runbook.yaml", root))]
        started[name] = (w, policy_path, tuple(args), w.popen(*args))
    out = {}
    for name, (w, policy_path, args, proc) in started.items():
        done = w.wait(proc, args)
        lines = [line for line in done.out.splitlines() if line.startswith("{")]
        assert len(lines) == 1, str(done)
        out[name] = Scenario(w, policy_path, json.loads(lines[0]), done)
    return out


def test_a_child_nesting_past_max_depth_stops_the_tree_with_depth_exceeded(
    scenarios: dict[str, Scenario],
) -> None:
    s = scenarios["depth"]
    assert (s.outcome["status"], s.done.code) == ("depth_exceeded", 1), str(s.done)
    child = s.w.run_row(f"{s.root}.checks")
    assert child["status"] == "depth_exceeded"
    assert "depth_limit" in child["status_reason"]
    assert s.w.steps(f"{s.root}.checks") == {}, "a refused child runs nothing"
    assert s.w.query("SELECT * FROM runs WHERE parent_run_id = ?", f"{s.root}.checks") == []
    assert s.w.steps(s.root)["checks"]["status"] == "depth_exceeded"


def test_cumulative_cost_past_the_cap_stops_before_the_next_step_keeping_findings(
    scenarios: dict[str, Scenario],
) -> None:
    s = scenarios["cost_runtime"]
    assert (s.outcome["status"], s.done.code) == ("budget_exceeded", 1), str(s.done)
    row = s.w.run_row(s.root)
    assert "would pass the cap" in row["status_reason"]
    assert row["cost_usd"] == pytest.approx(2.0)
    assert set(s.w.steps(s.root)) == {"spend"}
    assert [f["finding_id"] for f in s.w.findings(s.root)] == ["wtest_costly-spend"]
    (approval,) = s.w.query("SELECT * FROM approvals WHERE run_id = ?", s.root)
    assert (approval["approver"], approval["auto_rule"]) == ("auto:tests", "tests")


def test_a_policy_cap_below_the_planners_estimate_refuses_the_root_with_budget_exceeded(
    scenarios: dict[str, Scenario],
) -> None:
    s = scenarios["cost_guard"]
    assert (s.outcome["status"], s.done.code) == ("budget_exceeded", 1), str(s.done)
    assert "cost_limit" in s.w.run_row(s.root)["status_reason"]
    assert s.w.steps(s.root) == {}
    assert s.w.query("SELECT * FROM approvals") == []


def test_the_time_cap_stops_a_slow_step_with_timed_out_keeping_earlier_findings(
    scenarios: dict[str, Scenario],
) -> None:
    s = scenarios["time"]
    assert (s.outcome["status"], s.done.code) == ("timed_out", 1), str(s.done)
    steps = s.w.steps(s.root)
    assert (steps["first"]["status"], steps["sleepy"]["status"]) == ("completed", "timed_out")
    assert "after" not in steps
    assert steps["sleepy"]["duration_s"] < 3.5
    assert [f["finding_id"] for f in s.w.findings(s.root)] == ["wtest_slow-first"]


def test_an_engaged_kill_switch_cancels_a_run_before_it_is_approved(scenarios: dict[str, Scenario]) -> None:
    s = scenarios["kill_before"]
    assert (s.outcome["status"], s.done.code) == ("cancelled", 1), str(s.done)
    assert "kill_switch" in s.w.run_row(s.root)["status_reason"]
    assert s.w.steps(s.root) == {}


def test_a_kill_switch_engaged_while_waiting_refuses_the_decision_and_a_withdrawal_keeps_findings(
    scenarios: dict[str, Scenario],
) -> None:
    s = scenarios["kill_between"]
    child = f"{s.root}.child"
    assert s.outcome["waiting"] == [{"run_id": child, "required_role": "dpo", "depth": 1}], str(s.done)
    bound = s.w.run_row(s.root)["policy_sha256"]
    engaged = s.w.kill_switch("engage", "regulator asked us to stop", "--tenant", "acme")
    assert "kill switch engaged for acme" in engaged.out, str(engaged)

    # no decision is taken while the switch is engaged: the child still waits, nothing recorded
    done = s.w.approve(child, ok=None)
    assert done.code == 1 and "error (kill_switch)" in done.err, str(done)
    assert "regulator asked us to stop" in done.err
    assert s.w.run_row(child)["status"] == "waiting_approval"
    assert s.w.query("SELECT * FROM approvals WHERE run_id = ?", child) == []
    # withdrawing it is allowed, and stops the tree before its next step
    withdrawn = s.w.run("cancel", child, "--reason", "stopped by the switch", "--as", "dora@acme", ok=None)
    assert withdrawn.code == 0, str(withdrawn)
    for run in (child, s.root):
        row = s.w.run_row(run)
        assert row["status"] == "cancelled"
        assert row["policy_sha256"] == bound, "the tree keeps the policy it was requested under"
    assert s.w.steps(child) == {}
    assert [f["finding_id"] for f in s.w.findings(s.root)] == ["wtest_slow-first"]


def test_generated_runbooks_naming_a_foreign_system_or_a_disallowed_analyser_are_refused(
    scenarios: dict[str, Scenario],
) -> None:
    s = scenarios["refused"]
    assert s.done.code == 0, str(s.done)
    for step, code in (("run-foreign", "cross_tenant"), ("run-not-allowed", "analyser_not_allowed")):
        child = s.w.run_row(f"{s.root}.{step}")
        assert child["status"] == "rejected"
        assert child["status_reason"] == f"guard refused the runbook: {code}"
        assert s.w.steps(child["run_id"]) == {}, "a refused runbook never executes"
        assert s.w.query("SELECT * FROM approvals WHERE run_id = ?", child["run_id"]) == []
        (report,) = [e for e in s.w.audit(child["run_id"]) if e["event"] == "guard_report"]
        payload = json.loads(report["payload_json"])
        assert payload["ok"] is False
        assert code in {i["code"] for i in payload["issues"]}
    assert s.w.steps(s.root)["run-foreign"]["status"] == "rejected"
    assert s.w.findings(s.root)[-1]["finding_id"] == "wtest_slow-after"


def test_a_generated_runbook_no_checkpoint_can_hold_fails_its_step_with_the_reason(
    scenarios: dict[str, Scenario],
) -> None:
    s = scenarios["oversize"]
    assert (s.outcome["status"], s.done.code) == ("failed", 1), str(s.done)
    assert "Traceback" not in s.done.err and "internal error" not in s.done.err, str(s.done)
    reason = s.w.run_row(s.root)["status_reason"]
    assert "generated runbook cannot be run (too_large): steps[0].config.n" in reason, reason
    steps = s.w.steps(s.root)
    assert steps["checks"]["status"] == "failed"
    assert "after" not in steps
    assert s.w.query("SELECT * FROM runs WHERE parent_run_id = ?", s.root) == []
