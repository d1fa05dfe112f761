"""The acme notice end to end, each stage in its own process on one state directory.

One prepared tree is shared by the tests of this module (building it takes a dozen
processes). Its middle stage is deliberately crowded: two approvals of the root race each
other while a second analysis starts and read-only queries poll the same state directory.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from typing import Any

import pytest
from _wardencli import ACME_POLICY, REPO, Done, Warden

from warden.governance import load_policy

SECOND_NOTICE = REPO / "fixtures" / "notices" / "tallow_and_finch.md"


@dataclass
class AcmeTree:
    w: Warden
    root: str
    first_analyse: list[dict[str, Any]]
    racers: list[Done]
    second_analyse: Done
    queries: list[Done]
    child_approval: Done
    findings: list[dict[str, Any]]
    tree: list[dict[str, Any]]


@pytest.fixture(scope="module")
def acme(tmp_path_factory: pytest.TempPathFactory) -> AcmeTree:
    w = Warden(home=tmp_path_factory.mktemp("acme") / "home", policy=ACME_POLICY)
    first = w.analyse()
    root = first[0]["run_id"]
    # the bundled policy's document roots are acme's fixtures: the second notice is uploaded
    # into the state directory (uploads/<tenant>), which every tenant may analyse from
    second_notice = w.home / "uploads" / "acme" / SECOND_NOTICE.name
    second_notice.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SECOND_NOTICE, second_notice)

    # Two approvers at once, a second analyst, and read-only queries in a loop, all together.
    racer_args = ("approve", root, "--as", "dora@acme", "--role", "dpo")
    racers = [w.popen(*racer_args), w.popen(*racer_args)]
    second_args = ("analyse", str(second_notice), "--tenant", "acme", "--as", "ana@acme", "--json")
    second = w.popen(*second_args)
    queries: list[Done] = []
    while any(p.poll() is None for p in [*racers, second]) or len(queries) < 3:
        queries.append(w.run("runs", "--json", ok=None))
    racer_results = [w.wait(p, racer_args) for p in racers]
    second_result = w.wait(second, second_args)

    child_approval = w.approve(f"{root}.checks")
    findings = w.run("findings", root, "--json").json()
    tree = w.run("tree", root, "--json").json()
    return AcmeTree(w, root, first, racer_results, second_result, queries, child_approval, findings, tree)


def test_analyse_stops_at_the_root_approval(acme: AcmeTree) -> None:
    waiting = [{"run_id": acme.root, "required_role": "dpo", "depth": 0}]
    assert acme.first_analyse == [{"run_id": acme.root, "status": "waiting_approval", "waiting": waiting}]


def test_the_only_transparency_gap_of_the_acme_notice_is_retention(acme: AcmeTree) -> None:
    transparency = [f for f in acme.findings if f["category"] == "transparency"]
    assert [f["code"] for f in transparency] == ["gdpr.missing.retention"]
    (finding,) = transparency
    assert finding["run_id"] == acme.root
    assert finding["evidence"] or finding["article"]
    # the system checks of the child run add the disclosure gaps (tests/graph/test_system_gaps.py)
    assert {f["run_id"] for f in acme.findings} == {acme.root, f"{acme.root}.checks"}


def test_the_tree_has_the_root_and_its_checks_child_both_completed(acme: AcmeTree) -> None:
    runs = {n["run_id"]: n for n in acme.tree}
    assert set(runs) == {acme.root, f"{acme.root}.checks"}
    assert {n["status"] for n in acme.tree} == {"completed"}
    child = runs[f"{acme.root}.checks"]
    assert (child["parent_run_id"], child["depth"]) == (acme.root, 1)
    assert "run completed" not in acme.child_approval.err
    assert f"run {acme.root}: completed" in acme.child_approval.out


def test_every_approval_has_a_complete_publishing_record(acme: AcmeTree) -> None:
    records = acme.w.query("SELECT * FROM approvals WHERE root_run_id = ? ORDER BY decided_at", acme.root)
    assert [(r["run_id"], r["decision"]) for r in records] == [
        (acme.root, "approve"),
        (f"{acme.root}.checks", "approve"),
    ]
    policy_sha = load_policy(ACME_POLICY).sha256
    for record in records:
        run = acme.w.run_row(record["run_id"])
        version = acme.w.query(
            "SELECT * FROM runbook_versions WHERE tenant = 'acme' AND runbook = ? AND sha256 = ?",
            record["runbook"],
            record["runbook_sha256"],
        )
        assert len(version) == 1 and version[0]["version_no"] == record["runbook_version"] == 1
        assert record["runbook_sha256"] == run["runbook_sha256"]
        assert (record["approver"], record["role"], record["tenant"]) == ("dora@acme", "dpo", "acme")
        assert record["policy_sha256"] == policy_sha
        assert record["validation_ok"] is True
        assert json.loads(record["validation_json"])["ok"] is True
        assert record["change_summary"].startswith("first approved version:")
        assert record["decided_at"] is not None
    assert records[0]["runbook"] == "privacy-policy-review"
    assert records[0]["change_summary"] == "first approved version: 4 step(s)"


def test_two_concurrent_approvals_execute_the_run_once(acme: AcmeTree) -> None:
    codes = sorted(r.code for r in acme.racers)
    assert codes == [0, 1], "\n".join(map(str, acme.racers))
    loser = next(r for r in acme.racers if r.code == 1)
    assert "not waiting for approval" in loser.err or "decided by another process" in loser.err, str(loser)
    steps = acme.w.steps(acme.root)
    assert {s: row["attempts"] for s, row in steps.items()} == {
        "practices": 1,
        "transparency": 1,
        "plan": 1,
        "checks": 1,
    }
    assert acme.w.steps(f"{acme.root}.checks")["practices"]["attempts"] == 1
    rows = acme.w.findings(acme.root)
    assert len(rows) == len({(r["run_id"], r["finding_id"]) for r in rows}) == len(acme.findings)
    approvals = acme.w.query("SELECT count(*) AS n FROM approvals WHERE run_id = ?", acme.root)
    assert approvals[0]["n"] == 1


def test_analyse_approve_and_queries_at_once_on_one_state_directory_all_succeed(acme: AcmeTree) -> None:
    assert acme.second_analyse.code == 0, str(acme.second_analyse)
    (second,) = [json.loads(line) for line in acme.second_analyse.out.splitlines()]
    assert second["status"] == "waiting_approval"
    assert acme.w.run_row(second["run_id"])["status"] == "waiting_approval"
    assert len(acme.queries) >= 3
    for query in acme.queries:
        assert query.code == 0, str(query)
        assert isinstance(query.json(), list)
    seen = {r["run_id"] for q in acme.queries for r in q.json()}
    assert acme.root in seen
    winner = next(r for r in acme.racers if r.code == 0)
    assert f"waiting for approval: run {acme.root}.checks" in winner.out


def test_the_audit_trail_tells_the_story_in_order(acme: AcmeTree) -> None:
    events = [e["event"] for e in acme.w.audit(acme.root)]
    for earlier, later in [
        ("run_requested", "documents_ingested"),
        ("guard_report", "approval_requested"),
        ("approval_requested", "approval:approve"),
        ("approval:approve", "step_completed"),
        ("child_started", "status:completed"),
    ]:
        assert events.index(earlier) < events.index(later), events
    assert events.count("approval:approve") == 1
