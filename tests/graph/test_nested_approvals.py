"""Approvals at every depth, resumed by run id from fresh processes; reject; approve an edit.

One `warden analyse` starts three trees of the same depth-2 runbook; each tree is then
driven by its own chain of processes, the three chains running at the same time on one
state directory.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from _wardencli import ACME_NOTICE, Done, Warden, acme_policy_data, runbook, slow, write_yaml


def nested_runbook() -> dict[str, Any]:
    """root (depth 0) -> child (depth 1) -> grandchild (depth 2), an analyser step at each."""
    grandchild = runbook("nested-grandchild", [slow("bottom")])
    child = runbook("nested-child", [slow("middle"), {"id": "deeper", "execute_workflow": grandchild}])
    return runbook(
        "nested-review",
        [slow("top"), {"id": "child", "execute_workflow": child}],
        limits={"max_depth": 2, "max_cost_usd": 1.0, "max_duration_s": 600, "step_timeout_s": 60},
    )


@dataclass
class Trees:
    w: Warden
    tmp: Path
    started: list[dict[str, Any]]
    approved: list[Done]
    bad_edit: Done
    good_edit: Done
    rejected: list[Done]


def _approve_every_level(w: Warden, root: str) -> list[Done]:
    return [w.approve(run) for run in (root, f"{root}.child", f"{root}.child.deeper")]


def _edit(w: Warden, tmp: Path, root: str) -> tuple[Done, Done]:
    bad = nested_runbook()
    bad["steps"][0]["system"] = "globex-hr"  # another tenant's system: the guard refuses it
    bad_done = w.approve(root, "--runbook", str(write_yaml(tmp / "bad-edit.yaml", bad)), ok=None)
    good = runbook("nested-review", [slow("edited")], version=2)
    good_done = w.approve(root, "--runbook", str(write_yaml(tmp / "good-edit.yaml", good)), ok=None)
    return bad_done, good_done


def _reject_child(w: Warden, tmp: Path, root: str) -> list[Done]:
    first = w.approve(root)
    # within the policy's $5 but above the $1 its parent allows: the guard must refuse it here too
    greedy = nested_runbook()["steps"][1]["execute_workflow"] | {"limits": {"max_cost_usd": 3.0}}
    over = w.approve(f"{root}.child", "--runbook", str(write_yaml(tmp / "greedy.yaml", greedy)), ok=None)
    second = w.run(
        "reject", f"{root}.child", "--as", "dora@acme", "--role", "dpo", "--reason", "not this quarter"
    )
    return [first, second, over]


@pytest.fixture(scope="module")
def trees(tmp_path_factory: pytest.TempPathFactory) -> Trees:
    tmp = tmp_path_factory.mktemp("nested")
    w = Warden(home=tmp / "home", policy=write_yaml(tmp / "policy.yaml", acme_policy_data()))
    started = w.analyse(write_yaml(tmp / "nested.yaml", nested_runbook()), *[ACME_NOTICE] * 3)
    roots = [s["run_id"] for s in started]
    with ThreadPoolExecutor(3) as pool:
        approved = pool.submit(_approve_every_level, w, roots[0])
        edited = pool.submit(_edit, w, tmp, roots[1])
        rejected = pool.submit(_reject_child, w, tmp, roots[2])
        bad, good = edited.result()
        return Trees(w, tmp, started, approved.result(), bad, good, rejected.result())


def roots(t: Trees) -> list[str]:
    return [s["run_id"] for s in t.started]


def test_each_started_tree_waits_for_its_root_approval(trees: Trees) -> None:
    assert [s["status"] for s in trees.started] == ["waiting_approval"] * 3
    assert [s["waiting"][0]["run_id"] for s in trees.started] == roots(trees)


def test_a_depth_two_tree_waits_at_each_level_and_resumes_by_run_id(trees: Trees) -> None:
    root = roots(trees)[0]
    root_done, child_done, grandchild_done = trees.approved
    assert f"waiting for approval: run {root}.child (depth 1" in root_done.out
    assert f"waiting for approval: run {root}.child.deeper (depth 2" in child_done.out
    assert f"run {root}: completed" in grandchild_done.out
    tree = trees.w.run("tree", root, "--json").json()
    assert [(n["run_id"], n["depth"], n["status"]) for n in tree] == [
        (root, 0, "completed"),
        (f"{root}.child", 1, "completed"),
        (f"{root}.child.deeper", 2, "completed"),
    ]
    found = trees.w.findings(root)
    assert [(f["run_id"], f["finding_id"]) for f in found] == [
        (root, "wtest_slow-top"),
        (f"{root}.child", "wtest_slow-middle"),
        (f"{root}.child.deeper", "wtest_slow-bottom"),
    ]
    decisions = trees.w.query("SELECT run_id, decision, approver FROM approvals WHERE root_run_id = ?", root)
    assert sorted((d["run_id"], d["decision"]) for d in decisions) == [
        (root, "approve"),
        (f"{root}.child", "approve"),
        (f"{root}.child.deeper", "approve"),
    ]


def test_an_edit_that_fails_the_guard_is_refused_and_the_run_keeps_waiting(trees: Trees) -> None:
    root = roots(trees)[1]
    assert trees.bad_edit.code == 1, str(trees.bad_edit)
    assert "cross_tenant" in trees.bad_edit.err
    # refused before anything ran: no approval record for the bad edit, no step of the draft
    events = [e["event"] for e in trees.w.audit(root)]
    first_decision = events.index("approval:edit")
    assert "step_completed" not in events[:first_decision]
    assert trees.w.query("SELECT count(*) AS n FROM approvals WHERE run_id = ?", root)[0]["n"] == 1


def test_an_approved_edit_is_revalidated_and_runs_the_edited_steps_only(trees: Trees) -> None:
    root = roots(trees)[1]
    assert trees.good_edit.code == 0, str(trees.good_edit)
    assert trees.w.run_row(root)["status"] == "completed"
    assert set(trees.w.steps(root)) == {"edited"}
    assert [f["finding_id"] for f in trees.w.findings(root)] == ["wtest_slow-edited"]
    assert [n["run_id"] for n in trees.w.run("tree", root, "--json").json()] == [root]
    (record,) = trees.w.query("SELECT * FROM approvals WHERE run_id = ?", root)
    assert record["decision"] == "edit"
    assert record["validation_ok"] is True and json.loads(record["validation_json"])["ok"] is True
    assert record["change_summary"].startswith("edited by approver; ")
    assert "removed step(s) child, top" in record["change_summary"]
    assert "added step(s) edited" in record["change_summary"]
    assert record["runbook_sha256"] == trees.w.run_row(root)["runbook_sha256"]


def test_a_rejected_child_never_executes_and_its_reason_is_recorded(trees: Trees) -> None:
    root = roots(trees)[2]
    child = f"{root}.child"
    assert trees.rejected[1].code == 0, str(trees.rejected[1])
    row = trees.w.run_row(child)
    assert row["status"] == "rejected"
    assert "not this quarter" in row["status_reason"]
    assert trees.w.steps(child) == {}
    assert trees.w.query("SELECT * FROM runs WHERE parent_run_id = ?", child) == []
    (record,) = trees.w.query("SELECT * FROM approvals WHERE run_id = ?", child)
    assert (record["decision"], record["comment"], record["runbook_version"]) == (
        "reject",
        "not this quarter",
        None,
    )
    assert trees.w.steps(root)["child"]["status"] == "rejected"
    assert [f["finding_id"] for f in trees.w.findings(root)] == ["wtest_slow-top"]


def test_an_edited_child_is_validated_against_its_parents_caps_and_refused(trees: Trees) -> None:
    over = trees.rejected[2]
    assert over.code == 1, str(over)
    assert "cost_limit" in over.err
    assert "approved run" not in over.out
    child = f"{roots(trees)[2]}.child"
    records = trees.w.query("SELECT decision FROM approvals WHERE run_id = ?", child)
    assert [r["decision"] for r in records] == ["reject"], "the refused edit left no approval record"


def test_a_decided_run_cannot_be_decided_again(trees: Trees) -> None:
    again = trees.w.approve(f"{roots(trees)[2]}.child", ok=None)
    assert again.code == 1
    assert "is rejected, not waiting for approval" in again.err
