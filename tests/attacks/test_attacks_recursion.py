"""Attacks on recursive execution: an approved runbook's step runs a runbook an analyser
generated, under the tree's depth, cost and time caps, after its own guard and approval.

The attacker is a hostile or steered planner (its output is the child runbook: the test
planner `wtest_emit` of tests/graph/plugins returns whatever runbook its config holds), a
requester who wants the tree withdrawn, or an analyser that takes its process down mid-step.
Every command is the real `warden` CLI in a fresh process on its own state directory (DuckDB
ledger, SQLite checkpointer); nothing is mocked.

A test marked ``xfail(strict=True, reason="DEFECT: ...")`` asserts the secure behaviour and
fails today for the reason given; the attacks that held are listed at the end of the module.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "graph"))

from _wardencli import (  # tests/graph's CLI helpers, as test_attacks_planner uses them
    ACME_NOTICE,
    Warden,
    acme_policy_data,
    auto_rule,
    runbook,
    slow,
    write_yaml,
)


def _warden(tmp_path: Path, policy: dict[str, Any]) -> Warden:
    return Warden(home=tmp_path / "home", policy=write_yaml(tmp_path / "policy.yaml", policy))


def _planned(name: str, generated: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A root runbook whose planner step emits `generated`, and a step that executes it."""
    return runbook(
        name,
        [
            {"id": "plan", "analyser": "wtest_emit", "config": {"runbook": generated}},
            {"id": "checks", "execute_workflow": "{{ steps.plan.output }}"},
        ],
        **fields,
    )


def _start(w: Warden, tmp_path: Path, root: dict[str, Any]) -> dict[str, Any]:
    (outcome,) = w.analyse(write_yaml(tmp_path / "runbook.yaml", root))
    return outcome


# 1. approvals of generated children


def test_a_generated_child_cannot_lower_the_role_that_approves_it(tmp_path: Path) -> None:
    """The root needs the DPO. The planner (steered by the notice) drafts its child with
    `approval: {required_role: analyst}`. The tenant's `approval.required_roles` is left at its
    default (empty: "any role of the tenant"), so the guard accepts the role, and Al, an analyst
    who is not the requester, approves the child: it scans with no DPO ever seeing it. A child
    runs on the authority of its parent's approval chain and must not pick a weaker approver."""
    generated = runbook("lowered-child", [slow("inner")], approval={"required_role": "analyst"})
    policy = acme_policy_data(approval={"required_roles": [], "allow_self_approval": False})
    policy["tenants"]["acme"]["users"]["al@acme"] = {"name": "Al Analyst", "roles": ["analyst"]}
    w = _warden(tmp_path, policy)
    root = _start(w, tmp_path, _planned("lowered-root", generated))["run_id"]
    w.approve(root)  # dora, dpo: the root's approval
    child = f"{root}.checks"
    assert w.run_row(child)["status"] == "waiting_approval"

    w.run("approve", child, "--as", "al@acme", "--role", "analyst", ok=None)
    decided = w.query("SELECT approver, role FROM approvals WHERE run_id = ?", child)
    assert decided == [], f"the child was approved by {decided}"
    assert w.steps(child) == {}, "the child ran on an analyst's approval"


def test_a_generated_child_is_not_published_as_its_roots_runbook(tmp_path: Path) -> None:
    """The planner names the child it drafts after the tree's own root runbook
    (`runbook: planned-root`, `version: 9`). The DPO approves the child at depth 1 and its
    content is published as version 2 of planned-root: the root runbook's approved history now
    ends with a scan plan that never ran as the root, the next planned-root draft is reviewed
    (`previous_version`, `diff`) against it, and the same content would show as "no change".
    An approver's edit may not do this (tests/attacks/test_attacks_edits.py); a planner's
    draft, steered by the notice, may."""
    generated = runbook("planned-root", [slow("inner")], version=9)
    policy = acme_policy_data(approval={"auto_approve": [auto_rule("tests", ["planned-root"])]})
    w = _warden(tmp_path, policy)
    root = _start(w, tmp_path, _planned("planned-root", generated))["run_id"]
    child = f"{root}.checks"
    assert w.run_row(child)["status"] == "waiting_approval"  # depth 1: the rule covers depth 0

    w.approve(child, ok=None)
    published = w.query(
        "SELECT version_no, declared_version, first_run_id FROM runbook_versions "
        "WHERE tenant = 'acme' AND runbook = 'planned-root' ORDER BY version_no"
    )
    assert [v["first_run_id"] for v in published] == [root], published


# 2. withdrawing a tree whose child waits


def test_cancelling_the_root_withdraws_the_tree_whose_child_waits(tmp_path: Path) -> None:
    """Ana requested the analysis; its root ran (a rule approved it) and its child waits for the
    DPO. Ana withdraws her request by the run id `warden analyse` gave her (was refused with
    "run ... is running, not waiting for approval", the child left waiting in the DPO's inbox).
    Withdrawing the root must stop the tree, its waiting child included."""
    child_book = runbook("waiting-child", [slow("inner")])
    root_book = runbook("withdrawn-root", [slow("first"), {"id": "child", "execute_workflow": child_book}])
    w = _warden(
        tmp_path, acme_policy_data(approval={"auto_approve": [auto_rule("tests", ["withdrawn-root"])]})
    )
    root = _start(w, tmp_path, root_book)["run_id"]
    child = f"{root}.child"
    assert w.run_row(child)["status"] == "waiting_approval"

    done = w.run("cancel", root, "--reason", "wrong file", "--as", "ana@acme", ok=None)
    assert done.code == 0, str(done)
    assert (w.run_row(root)["status"], w.run_row(child)["status"]) == ("cancelled", "cancelled")


# 3. the time cap across a crash and `warden resume`


def test_a_step_killed_mid_run_does_not_get_the_trees_time_cap_again_on_resume(tmp_path: Path) -> None:
    """The tree may use 5 s of analyser time; its one step takes 4 s. The approver's process is
    SIGKILLed 2 s into the step (an analyser that exhausts memory or crashes the interpreter
    does the same, and a starting server resumes orphaned trees by itself). `warden resume`
    ran the step again with the full 5 s: the tree ended `completed` after 6 s of step time.
    The step's `running` row now carries the time it has run (a heartbeat), which counts
    against the cap: the resumed step gets what is left and the tree ends `timed_out`."""
    book = runbook("crashing-step", [slow("sleepy", seconds=4)], limits={"max_duration_s": 5})
    w = _warden(tmp_path, acme_policy_data())
    root = _start(w, tmp_path, book)["run_id"]
    approver = w.popen("approve", root, "--as", "dora@acme", "--role", "dpo")
    w.wait_for("SELECT 1 FROM steps WHERE run_id = ? AND step_id = 'sleepy' AND status = 'running'", root)
    time.sleep(2.0)
    os.killpg(approver.pid, signal.SIGKILL)
    approver.wait(timeout=30)
    assert w.steps(root)["sleepy"]["status"] == "running"

    w.run("resume", root, "--as", "dora@acme", ok=None)
    row, sleepy = w.run_row(root), w.steps(root)["sleepy"]
    assert row["status"] == "timed_out", (row["status"], row["status_reason"], sleepy["attempts"])


# 4. an analyser the executor abandoned at its timeout


_LINGER_MANIFEST = """name: wrec_linger
version: 0.1.0
description: Test analyser that outlives its timeout, then books a cost.
entrypoint: wrec_linger:run
output_schema: findings
reads: documents
config_schema:
  type: object
  additionalProperties: false
  properties:
    seconds: {type: number, minimum: 0}
    usd: {type: number, minimum: 0}
"""

_LINGER_CODE = """import time


def run(inputs, config, ctx):
    time.sleep(float(config["seconds"]))
    ctx.record_cost(float(config["usd"]), kind="llm", model="lingering")  # a model call, billed
    return {"findings": []}
"""


def test_an_analyser_abandoned_at_its_timeout_books_nothing_after_its_run_ended(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A long-lived process (the server, a worker) runs a step with `timeout_s: 0.5`; its
    analyser takes 1.5 s. The step times out and the run ends `failed`, but Python cannot kill
    the thread: the abandoned analyser goes on and books $0.25 of model spend to the finished
    run (the LLM session would go on calling the model the same way, checked only against the
    tree's remaining budget). Caps, the kill switch and cancel all act between steps, so none
    reached it. Each attempt now has a token the executor closes when it abandons it: the
    late cost is refused (`attempt_over`) and the session sends nothing more."""
    from warden.catalogue import Catalogue
    from warden.service import Service

    plugin = tmp_path / "plugins" / "wrec_linger"
    plugin.mkdir(parents=True)
    (plugin / "manifest.yaml").write_text(_LINGER_MANIFEST)
    (plugin / "__init__.py").write_text(_LINGER_CODE)
    graph_plugins = Path(__file__).resolve().parents[1] / "graph" / "plugins"
    monkeypatch.setenv("WARDEN_ANALYSER_PATH", os.pathsep.join([str(graph_plugins), str(plugin.parent)]))
    policy = acme_policy_data()
    policy["tenants"]["acme"]["analysers"].append("wrec_linger")
    rule = auto_rule("tests", ["lingering"])
    rule["analysers"].append("wrec_linger")
    policy["tenants"]["acme"]["approval"]["auto_approve"] = [rule]
    step = {
        "id": "linger",
        "analyser": "wrec_linger",
        "timeout_s": 0.5,
        "config": {"seconds": 1.5, "usd": 0.25},
    }
    book = write_yaml(tmp_path / "runbook.yaml", runbook("lingering", [step]))
    svc = Service(
        tmp_path / "home", policy=write_yaml(tmp_path / "policy.yaml", policy), catalogue=Catalogue.discover()
    )
    ana = svc.principal("ana@acme", "asserted", writing=True)
    outcome = svc.start(ana, ACME_NOTICE, tenant="acme", runbook=book)
    assert outcome.status == "failed" and "StepTimeout" in (outcome.reason or ""), outcome

    time.sleep(2.0)  # the abandoned thread wakes up in this process
    with svc.store.connect(read_only=True) as con:
        booked = con.execute(
            "SELECT step_id, amount_usd FROM cost_ledger WHERE root_run_id = ?", [outcome.root_run_id]
        ).fetchall()
    assert booked == [], f"booked to the ended run: {booked}"


# 5. what the guard passes, the executor must run


def test_a_child_referenced_from_a_runbook_input_fails_with_a_code_not_an_internal_error(
    tmp_path: Path,
) -> None:
    """The runbook declares `inputs: {plan: runbook_definition}` and executes
    `{{ inputs.plan }}`. The guard's references, contracts and templates checks all accept it
    (`warden validate` exits 0); at run time `_child_runbook` asserts the reference is a step's,
    and the run fails as an internal error that `warden resume` would retry."""
    book = runbook("input-child", [slow("first"), {"id": "child", "execute_workflow": "{{ inputs.plan }}"}])
    book["inputs"] = {"document": "document", "plan": "runbook_definition"}
    w = _warden(tmp_path, acme_policy_data(approval={"auto_approve": [auto_rule("tests", ["input-child"])]}))
    path = write_yaml(tmp_path / "runbook.yaml", book)
    done = w.run(
        "analyse", str(ACME_NOTICE), "--tenant", "acme", "--as", "ana@acme", "--runbook", str(path), ok=None
    )
    assert done.code in (0, 1) and "internal error" not in done.err, str(done)


def test_a_timeout_on_the_step_that_runs_a_child_bounds_the_child(tmp_path: Path) -> None:
    """The approver reads `timeout_s: 1` on the step that executes the child and approves a tree
    they believe spends at most a second there. The guard's duration checks accept it (it is
    under the step cap), the child's 3 s step runs to the end and the tree completes: the
    field is declared, validated, shown in the review, and dead. Either the guard refuses it
    on an execute_workflow step or the child stops at it."""
    child = runbook("timed-child", [slow("inner", seconds=3)])
    root = runbook("timed-root", [{"id": "child", "execute_workflow": child, "timeout_s": 1}])
    rule = auto_rule("tests", ["timed-root", "timed-child"], max_depth=1)
    w = _warden(tmp_path, acme_policy_data(approval={"auto_approve": [rule]}))
    _start(w, tmp_path, root)
    ran = {r["run_id"]: r["status"] for r in w.query("SELECT run_id, status FROM runs")}
    assert "completed" not in ran.values(), ran


# Attacks that held (no test here: tests/graph, tests/llm and tests/attacks cover them):
# - a generated child for another tenant, naming another tenant's system or a disallowed
#   analyser, raising its caps or lowering its role below required_roles: refused by the child's
#   guard with a code, nothing runs (test_caps_and_refusals.py, test_attacks_planner.py).
# - depth: 30 levels of inline children, a child that regenerates its parent under an
#   auto-approval rule (with and without raising max_depth), an edited child raising its caps:
#   stopped at the cap (test_attacks_planner.py, test_nested_approvals.py); the depth and the
#   parent's caps a child is checked against come from the checkpointed state on resume, from
#   the interrupt payload on a decision, and from the bound policy (not the one in force).
# - cost: the tree's spend is summed over every run of the tree (cost_ledger by root), so spend
#   split across children meets the same cap; a child's cap is the tighter of its parent's and
#   its step's; cost entries have per-call ids (a re-run step's spend is not dropped as a
#   duplicate).
# - self-approval: a child's requester is its root's, so the requester cannot approve the child
#   either; an auto-approval rule with max_depth 0 never approves a child; a child whose steps
#   may call a model is not approved by a rule without model_calls.
# - kill switch: checked before every step of every run of the tree (children included), after
#   a passing guard of a child, before an auto-approval commits and in every decision.
# - lineage: child run ids derive from parent id and step id (slugs hold no '.'), the child's
#   tenant, requester, root and bound policy come from the parent's state, never from the
#   generated runbook; findings of a child carry the child's run id and the root's id.
# - by design, not counted as defects: a policy applied later neither widens nor narrows a
#   running tree's caps (only the kill switch reaches it); `warden replay` re-runs an approved
#   tree in a scratch copy under its bound policy with the recorded decisions (local CLI only);
#   an auto-approval rule's `runbooks:` matches a draft's self-chosen name (a root's too), and
#   its analysers, cost and depth bounds hold for children.
