"""SIGKILL an approval mid-step; `warden resume` from a fresh process finishes the same work.

The reference is a clean run of the same runbook in another state directory, approved by a
policy rule and never interrupted, started at the same time as the run that gets killed.
"""

from __future__ import annotations

import os
import signal

from _wardencli import ACME_NOTICE, acme_policy_data, auto_rule, runbook, slow, write_yaml

CRASH = runbook("crash-review", [slow("first"), slow("sleepy", seconds=3), slow("last")])


def test_a_run_killed_mid_step_resumes_to_the_same_findings_without_duplicates(make_warden, tmp_path):
    book = write_yaml(tmp_path / "crash.yaml", CRASH)
    killed = make_warden(acme_policy_data())
    clean = make_warden(acme_policy_data(approval={"auto_approve": [auto_rule("tests", ["crash-review"])]}))
    args = ("analyse", str(ACME_NOTICE), "--tenant", "acme", "--as", "ana@acme", "--runbook", str(book))
    clean_proc = clean.popen(*args)

    (started,) = killed.analyse(book)
    root = started["run_id"]
    approver = killed.popen("approve", root, "--as", "dora@acme", "--role", "dpo")
    killed.wait_for(
        "SELECT * FROM steps WHERE run_id = ? AND step_id = 'sleepy' AND status = 'running'", root
    )
    os.killpg(approver.pid, signal.SIGKILL)
    approver.wait(timeout=30)
    assert approver.returncode == -signal.SIGKILL
    assert killed.run_row(root)["status"] == "running"
    assert "last" not in killed.steps(root)

    resumed = killed.run("resume", root)
    assert f"run {root}: completed" in resumed.out
    assert clean.wait(clean_proc, args).code == 0

    clean_root = clean.query("SELECT run_id FROM runs")[0]["run_id"]
    assert clean.run_row(clean_root)["status"] == killed.run_row(root)["status"] == "completed"
    ids = [f["finding_id"] for f in killed.findings(root)]
    assert ids == [f["finding_id"] for f in clean.findings(clean_root)]
    assert ids == ["wtest_slow-first", "wtest_slow-last", "wtest_slow-sleepy"]
    steps = killed.steps(root)
    assert {s: (r["status"], r["attempts"]) for s, r in steps.items()} == {
        "first": ("completed", 1),  # finished before the kill: never run again
        "sleepy": ("completed", 2),  # in flight at the kill: run again
        "last": ("completed", 1),
    }
    events = [e["event"] for e in killed.audit(root)]
    assert events.count("approval:approve") == 1
    assert events.count("run_finished") == 1
