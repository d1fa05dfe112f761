"""The policy a tree runs under, and the kill switch that stops it.

A tree is bound to the policy it was requested under; the state directory holds the policy in
force, changed only by an admin's audited `warden policy apply` / `warden policy kill-switch`.
An engaged kill switch stops running and waiting trees of the tenant before their next step,
whatever policy they are bound to. A policy file edited on disk changes nothing until applied.
"""

from __future__ import annotations

import json

import yaml
from _wardencli import (
    ACME_NOTICE,
    ADMIN,
    Warden,
    acme_policy_data,
    auto_rule,
    runbook,
    slow,
    write_yaml,
)

from warden.governance import load_policy
from warden.store import Store

SHORT = runbook("short-review", [slow("only")])


def _analyse(w: Warden, book: dict, tmp_path, *, wait: bool = True):
    path = write_yaml(tmp_path / f"{book['runbook']}.yaml", book)
    args = (
        "analyse",
        str(ACME_NOTICE),
        "--tenant",
        "acme",
        "--as",
        "ana@acme",
        "--json",
        "--runbook",
        str(path),
    )
    return args, w.popen(*args) if not wait else w.run(*args, ok=None)


def _outcome(done) -> dict:
    (line,) = [line for line in done.out.splitlines() if line.startswith("{")]
    return json.loads(line)


def _in_force(w: Warden) -> dict:
    return w.run("policy", "show", "--json", "--as", ADMIN).json()


def _policy_events(w: Warden) -> list[dict]:
    return w.query("SELECT actor, payload_json FROM audit_events WHERE event = 'policy_applied' ORDER BY seq")


def test_a_kill_switch_engaged_through_the_cli_stops_a_running_tree_bound_to_another_policy(
    make_warden, tmp_path
) -> None:
    data = acme_policy_data(approval={"auto_approve": [auto_rule("tests", ["long-review"])]})
    w = make_warden(data)
    bound_sha = load_policy(w.policy).sha256
    w.extra_env["WTEST_SIGNALS"] = str(tmp_path)  # the sleepy step ends once the switch is
    go = tmp_path / "go"  # engaged, however slow the machine
    long = runbook("long-review", [slow("first"), slow("sleepy", seconds=300, until="go"), slow("after")])
    args, proc = _analyse(w, long, tmp_path, wait=False)
    w.wait_for("SELECT * FROM steps WHERE step_id = 'sleepy' AND status = 'running'")

    # while the step runs, an admin puts another policy in force, then engages acme's switch
    data["tenants"]["acme"]["limits"]["max_cost_usd"] = 4.0
    w.apply_policy(write_yaml(tmp_path / "newer.yaml", data), reason="lower acme's cap")
    engaged = w.kill_switch("engage", "incident 7", "--tenant", "acme")
    assert "kill switch engaged for acme" in engaged.out, str(engaged)
    go.touch()

    done = w.wait(proc, args)
    assert done.code == 1, str(done)
    root = _outcome(done)["run_id"]
    assert _outcome(done)["status"] == "cancelled"
    row = w.run_row(root)
    assert row["status"] == "cancelled" and "kill switch: incident 7" in row["status_reason"]
    assert row["policy_sha256"] == bound_sha, "the tree stays bound to the policy it was requested under"
    steps = w.steps(root)
    assert (steps["first"]["status"], steps["sleepy"]["status"]) == ("completed", "completed")
    assert "after" not in steps, "stopped before its next step"
    assert [f["finding_id"] for f in w.findings(root)] == ["wtest_slow-first", "wtest_slow-sleepy"]
    events = _policy_events(w)
    assert [e["actor"] for e in events][-2:] == [ADMIN, ADMIN]
    assert "incident 7" in json.loads(events[-1]["payload_json"])["reason"]
    assert _in_force(w)["kill_switch"]["acme"] == "incident 7"


def test_a_run_the_ledger_ended_during_its_last_step_keeps_that_end(make_warden, tmp_path) -> None:
    """The ledger ends a run while its last step runs (as the Temporal engine's stop, a
    withdrawal, another host's take-over can): `finish` must not overwrite that end with
    `completed`, nor audit a completion that did not stand."""
    data = acme_policy_data(approval={"auto_approve": [auto_rule("tests", ["last-step"])]})
    w = make_warden(data)
    w.extra_env["WTEST_SIGNALS"] = str(tmp_path)
    go = tmp_path / "go"
    last = runbook("last-step", [slow("first"), slow("sleepy", seconds=300, until="go")])
    args, proc = _analyse(w, last, tmp_path, wait=False)
    (sleepy,) = w.wait_for("SELECT run_id FROM steps WHERE step_id = 'sleepy' AND status = 'running'")
    with Store(w.home / "warden.duckdb").connect() as con:
        con.execute(
            "UPDATE runs SET status = 'cancelled', status_reason = 'ended elsewhere' WHERE run_id = ?",
            [sleepy["run_id"]],
        )
    go.touch()
    done = w.wait(proc, args)
    root = _outcome(done)["run_id"]
    row = w.run_row(root)
    assert (row["status"], row["status_reason"]) == ("cancelled", "ended elsewhere"), row
    events = w.query(
        "SELECT event, payload_json FROM audit_events WHERE run_id = ? AND event IN "
        "('status:completed', 'run_finished') ORDER BY seq",
        root,
    )
    assert [e["event"] for e in events] == ["run_finished"], events
    assert json.loads(events[0]["payload_json"])["status"] == "cancelled"


def test_a_kill_switch_engaged_through_the_cli_cancels_a_waiting_tree_when_it_is_approved(
    make_warden, tmp_path
) -> None:
    w = make_warden(acme_policy_data())
    (waiting,) = w.analyse(write_yaml(tmp_path / "short.yaml", SHORT))
    root = waiting["run_id"]
    assert waiting["status"] == "waiting_approval"
    bound_sha = w.run_row(root)["policy_sha256"]

    # a non-admin may not touch the switch; the refusal changes nothing
    refused = w.run("policy", "kill-switch", "engage", "--reason", "x", "--as", "dora@acme", ok=None)
    assert refused.code == 2 and "may not change the policy" in refused.err, str(refused)
    assert _in_force(w)["sha256"] == bound_sha

    w.kill_switch("engage", "regulator asked us to stop")  # every tenant
    assert _in_force(w)["sha256"] != bound_sha
    done = w.approve(root, ok=None)  # refused while the switch is engaged: nothing decided
    assert done.code == 1 and "error (kill_switch)" in done.err and "regulator asked us to stop" in done.err
    row = w.run_row(root)
    assert row["status"] == "waiting_approval" and row["policy_sha256"] == bound_sha
    assert w.query("SELECT * FROM approvals WHERE run_id = ?", root) == []
    assert w.steps(root) == {}

    # released: new runs go ahead again (under the policy in force: the original file no
    # longer is, so it is not presented)
    w.kill_switch("release", "all clear")
    assert _in_force(w)["kill_switch"]["acme"] is None
    w.policy = None
    (again,) = w.analyse(write_yaml(tmp_path / "short.yaml", SHORT))
    assert again["status"] == "waiting_approval"
    assert f"run {again['run_id']}: completed" in w.approve(again["run_id"]).out


def test_a_kill_switch_does_not_lock_out_commands_that_present_the_policy_file(make_warden, tmp_path) -> None:
    """A Warden started with WARDEN_POLICY (as the demo scripts are) presents the file with
    every command. An engaged switch is a new version in force that differs from the file only
    in the switch: the commands still run under the version in force (so the switch stops new
    runs), and the admin can release it with the same environment."""
    w = make_warden(acme_policy_data())
    (waiting,) = w.analyse(write_yaml(tmp_path / "short.yaml", SHORT))
    w.extra_env["WARDEN_POLICY"] = str(w.policy)

    w.kill_switch("engage", "incident 9", "--tenant", "acme")
    listed = w.run("runs", "--as", "dora@acme", "--json")
    assert waiting["run_id"] in listed.out
    (stopped,) = w.analyse(write_yaml(tmp_path / "short.yaml", SHORT))
    assert stopped["status"] == "cancelled", stopped  # the switch in force governs
    assert "kill_switch" in w.run_row(stopped["run_id"])["status_reason"]

    released = w.kill_switch("release", "all clear", "--tenant", "acme")
    assert "kill switch released for acme" in released.out, str(released)
    (again,) = w.analyse(write_yaml(tmp_path / "short.yaml", SHORT))
    assert again["status"] == "waiting_approval", again


def test_a_policy_file_edited_on_disk_changes_nothing_until_it_is_applied(make_warden, tmp_path) -> None:
    w = make_warden(acme_policy_data())
    (first,) = w.analyse(write_yaml(tmp_path / "short.yaml", SHORT))
    (second,) = w.analyse(write_yaml(tmp_path / "short.yaml", SHORT))
    original = _in_force(w)["sha256"]

    edited = yaml.safe_load(w.policy.read_text())
    edited["tenants"]["acme"]["kill_switch"] = {"engaged": True, "reason": "edited on disk"}
    write_yaml(w.policy, edited)

    # the edit is not in force: a waiting run goes ahead when approved
    assert f"run {first['run_id']}: completed" in w.approve(first["run_id"]).out
    assert _in_force(w)["sha256"] == original
    # presenting the edited file is refused, and starts nothing
    mismatch = w.run("analyse", str(ACME_NOTICE), "--tenant", "acme", "--as", "ana@acme", ok=None)
    assert mismatch.code != 0 and "policy_mismatch" in mismatch.err, str(mismatch)
    assert len(w.query("SELECT * FROM runs WHERE parent_run_id IS NULL")) == 2
    # a file that does not parse is refused too; the policy in force stays
    broken = write_yaml(tmp_path / "broken.yaml", {"tenants": "[unclosed"})
    assert w.apply_policy(broken, ok=None).code != 0
    assert _in_force(w)["sha256"] == original

    # applied by an admin, the edit governs: no decision is taken on the other waiting run
    w.apply_policy(w.policy, reason="engage by file")
    assert _in_force(w)["kill_switch"]["acme"] == "edited on disk"
    done = w.approve(second["run_id"], ok=None)
    assert done.code == 1 and "error (kill_switch)" in done.err and "edited on disk" in done.err, str(done)
    assert w.run_row(second["run_id"])["status"] == "waiting_approval"
