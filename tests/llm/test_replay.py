"""`warden replay`: a recorded LLM-planned run tree, re-executed from its recordings alone.

The original run is made through the CLI against the loopback endpoint (one 429, one
malformed answer, then the plan) and its child is approved by the DPO in another process.
The endpoint is then shut down and the replay runs with no network at all.

The replay lives in a scratch state directory (kept with ``--keep`` so the tests can read
it): the real state directory gains no run, approval, model call or audit event, and a
replayed draft never enters the real approval queue.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest
from _cli import Done, analyse_with_runbook, warden
from _loopback import Endpoint, completion, error, plan_reply
from _support import GOOD_PLAN, MODEL, query, root_runbook, write_policy


@dataclass
class Recorded:
    home: Path
    policy: Path
    root: str
    requests: int
    dead_url: str
    waiting_home: Path
    """A copy of `home` taken before the DPO decided: the original's child still waits there."""


def _env(policy: Path, url: str) -> dict[str, str]:
    return {
        "WARDEN_POLICY": str(policy),
        "WARDEN_LLM_MODEL": MODEL,
        "OPENAI_BASE_URL": url,
        "OPENAI_API_KEY": "sk-test-0000000000000000",
        "WARDEN_LLM_BACKOFF_S": "0.01",
    }


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    tmp = tmp_path_factory.mktemp("replay")
    policy, runbook = write_policy(tmp), root_runbook(tmp)
    with Endpoint() as endpoint:
        endpoint.push(
            error(429, "slow down", **{"Retry-After": "0"}), completion("{oops"), plan_reply(GOOD_PLAN)
        )
        env = _env(policy, endpoint.url)
        started = analyse_with_runbook(tmp / "home", runbook, "--json", env=env)
        assert started.code == 0, str(started)
        root = started.json()["run_id"]
        shutil.copytree(tmp / "home", tmp / "waiting-home")
        approved = warden(
            tmp / "home", "approve", f"{root}.checks", "--as", "dora@acme", "--role", "dpo", env=env
        )
        assert approved.code == 0, str(approved)
        requests, url = len(endpoint.requests), endpoint.url
    return Recorded(tmp / "home", policy, root, requests, url, tmp / "waiting-home")


def _replay(
    home: Path, recorded: Recorded, *extra: str, user: str = "ana@acme", scratch_parent: Path | None = None
) -> Done:
    # the endpoint is gone: any network call would fail with a connection error
    env = _env(recorded.policy, recorded.dead_url)
    if scratch_parent is not None:  # where tempfile makes the scratch state directory
        scratch_parent.mkdir(parents=True, exist_ok=True)
        env["TMPDIR"] = str(scratch_parent)
    return warden(home, "replay", recorded.root, "--as", user, "--json", *extra, env=env)


@pytest.fixture(scope="module")
def replayed(recorded: Recorded, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Done]:
    """The replay, with its scratch state directory kept (under pytest's tmp, removed after)."""
    parent = tmp_path_factory.mktemp("scratch")
    done = _replay(recorded.home, recorded, "--keep", scratch_parent=parent)
    assert done.code == 0, str(done)
    assert Path(done.json()["scratch"]).parent == parent
    yield done
    shutil.rmtree(done.json()["scratch"], ignore_errors=True)


def _scratch(replayed: Done) -> Path:
    return Path(replayed.json()["scratch"])


def _snapshot(home: Path) -> dict[str, Any]:
    """Every row of every table of the store, the checkpoints, and the files of `home`."""
    con = duckdb.connect(str(home / "warden.duckdb"), read_only=True)
    try:
        tables = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()]
        rows = {t: sorted(map(repr, con.execute(f'SELECT * FROM "{t}"').fetchall())) for t in tables}
    finally:
        con.close()
    lite = sqlite3.connect(f"file:{home / 'checkpoints.sqlite'}?mode=ro", uri=True)
    try:
        checkpoints = sorted(lite.execute("SELECT thread_id, checkpoint_id FROM checkpoints").fetchall())
        writes = lite.execute("SELECT count(*) FROM writes").fetchone()[0]
    finally:
        lite.close()
    files = sorted(p.name for p in home.iterdir() if not p.name.endswith(("-wal", "-shm")))
    return {"tables": rows, "checkpoints": checkpoints, "writes": writes, "files": files}


def _waiting_runs(home: Path, recorded: Recorded) -> list[str]:
    """The approval queue, as the DPO sees it."""
    done = warden(
        home,
        "runs",
        "--status",
        "waiting_approval",
        "--as",
        "dora@acme",
        "--json",
        env={"WARDEN_POLICY": str(recorded.policy)},
    )
    assert done.code == 0, str(done)
    return sorted(r["run_id"] for r in done.json())


def _findings(home: Path, root: str) -> bytes:
    rows = query(
        home,
        "SELECT * EXCLUDE (run_id, root_run_id, created_at), run_id FROM findings "
        "WHERE root_run_id = ? ORDER BY run_id, finding_id",
        root,
    )
    for row in rows:
        row["run_id"] = row["run_id"][len(root) :]
    return json.dumps(rows, sort_keys=True, default=str).encode()


def test_the_original_run_went_through_a_429_a_reask_and_a_dpo_approved_child(recorded: Recorded) -> None:
    assert recorded.requests == 3
    calls = query(
        recorded.home, 'SELECT outcome FROM llm_calls WHERE root_run_id = ? ORDER BY "at"', recorded.root
    )
    assert [c["outcome"] for c in calls] == ["rate_limited", "ok", "ok"]
    statuses = query(recorded.home, "SELECT run_id, status FROM runs WHERE root_run_id = ?", recorded.root)
    assert {r["status"] for r in statuses} == {"completed"} and len(statuses) == 2


def test_replay_reproduces_the_findings_byte_for_byte_with_no_network(
    recorded: Recorded, replayed: Done
) -> None:
    assert replayed.code == 0, str(replayed)
    summary = replayed.json()
    assert (summary["status"], summary["original_status"]) == ("completed", "completed")
    assert summary["findings_identical"] is True and summary["unplayed_calls"] == 0
    new_root = summary["run_id"]
    assert new_root != recorded.root
    original, again = _findings(recorded.home, recorded.root), _findings(_scratch(replayed), new_root)
    assert original == again
    assert b"gdpr.missing.retention" in original and original.count(b"finding_id") == 2


def test_replay_decides_the_child_as_recorded_and_publishes_the_same_runbook(
    recorded: Recorded, replayed: Done
) -> None:
    new_root = replayed.json()["run_id"]
    assert replayed.json()["decisions"] == [
        {"run_id": f"{new_root}.checks", "decision": "approve", "approver": "dora@acme"}
    ]
    sha = "SELECT runbook_sha256 FROM runs WHERE run_id = ?"
    (original,) = query(recorded.home, sha, f"{recorded.root}.checks")
    (again,) = query(_scratch(replayed), sha, f"{new_root}.checks")
    assert original["runbook_sha256"] == again["runbook_sha256"]
    # the decision is recorded in the scratch state directory only
    assert query(recorded.home, "SELECT * FROM approvals WHERE run_id = ?", f"{new_root}.checks") == []
    (decision,) = query(_scratch(replayed), "SELECT * FROM approvals WHERE run_id = ?", f"{new_root}.checks")
    assert (decision["approver"], decision["role"]) == ("dora@acme", "dpo")
    assert f"replay of the decision recorded for run {recorded.root}.checks" in decision["comment"]


def test_replayed_calls_are_recorded_as_replayed_and_cost_nothing(recorded: Recorded, replayed: Done) -> None:
    new_root = replayed.json()["run_id"]
    scratch = _scratch(replayed)
    calls = query(scratch, 'SELECT * FROM llm_calls WHERE root_run_id = ? ORDER BY "at"', new_root)
    original = query(
        recorded.home, 'SELECT * FROM llm_calls WHERE root_run_id = ? ORDER BY "at"', recorded.root
    )
    assert [c["request_hash"] for c in calls] == [c["request_hash"] for c in original]
    assert [c["outcome"] for c in calls] == ["rate_limited", "ok", "ok"]
    assert all(c["replayed"] and c["cost_usd"] == 0 for c in calls)
    spent = query(scratch, "SELECT sum(amount_usd) AS usd FROM cost_ledger WHERE root_run_id = ?", new_root)
    assert spent[0]["usd"] == 0


def test_replay_without_the_recording_fails_with_replay_missing_and_a_fix(
    recorded: Recorded, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    shutil.copytree(recorded.home, home)
    con = duckdb.connect(str(home / "warden.duckdb"))
    con.execute("DELETE FROM llm_calls WHERE outcome = 'ok'")
    con.close()
    done = _replay(home, recorded)
    assert done.code == 1, str(done)
    summary: dict[str, Any] = done.json()
    assert summary["status"] == "failed"
    assert "[replay_missing]" in summary["reason"]
    assert "no recorded response for request" in summary["reason"]


def test_replaying_an_unknown_run_is_a_usage_error(recorded: Recorded) -> None:
    done = warden(
        recorded.home, "replay", "run-nope", "--as", "ana@acme", env={"WARDEN_POLICY": str(recorded.policy)}
    )
    assert done.code == 2
    assert "unknown_run" in done.err and "Traceback" not in done.err


# the replay is no way around identity, tenancy or the approval queue


def test_replay_needs_an_identity(recorded: Recorded) -> None:
    done = warden(recorded.home, "replay", recorded.root, env={"WARDEN_POLICY": str(recorded.policy)})
    assert done.code == 2, str(done)
    assert "no_principal" in done.err and "Traceback" not in done.err and done.out == ""


def test_another_tenants_user_is_answered_as_for_an_unknown_run(recorded: Recorded) -> None:
    env = {"WARDEN_POLICY": str(recorded.policy)}
    before = _snapshot(recorded.home)
    stranger = warden(recorded.home, "replay", recorded.root, "--as", "gil@globex", env=env)
    unknown = warden(recorded.home, "replay", "run-nope", "--as", "gil@globex", env=env)
    assert (stranger.code, stranger.out) == (2, "")
    assert "unknown_run" in stranger.err and "Traceback" not in stranger.err
    assert stranger.err.replace(recorded.root, "RUN") == unknown.err.replace("run-nope", "RUN")
    assert _snapshot(recorded.home) == before


def test_replay_leaves_the_real_state_directory_untouched_and_the_approval_queue_empty(
    recorded: Recorded, tmp_path: Path
) -> None:
    """The original's child still waits for the DPO; the replay waits at the same point, in its
    scratch directory: the real queue shows the original alone, and nothing was added."""
    home = recorded.waiting_home
    assert _waiting_runs(home, recorded) == [f"{recorded.root}.checks"]
    before = _snapshot(home)
    scratch_parent = tmp_path / "tmp"
    done = _replay(home, recorded, scratch_parent=scratch_parent)
    assert done.code == 0, str(done)
    summary = done.json()
    new_root = summary["run_id"]
    assert summary["waiting"] == [f"{new_root}.checks"] and summary["decisions"] == []
    assert summary["findings_identical"] is True and summary["scratch"] is None
    assert list(scratch_parent.iterdir()) == []  # the scratch directory is gone
    after = _snapshot(home)
    assert after == before
    assert new_root not in json.dumps(after["tables"])
    assert _waiting_runs(home, recorded) == [f"{recorded.root}.checks"]


def test_a_kept_replay_lives_in_its_scratch_directory_only(recorded: Recorded, replayed: Done) -> None:
    new_root = replayed.json()["run_id"]
    scratch = _scratch(replayed)
    assert scratch.resolve() != recorded.home.resolve() and (scratch / "warden.duckdb").exists()
    real = _snapshot(recorded.home)
    assert new_root not in json.dumps(real["tables"])
    assert {r["root_run_id"] for r in query(recorded.home, "SELECT root_run_id FROM runs")} == {recorded.root}
    assert {r["root_run_id"] for r in query(recorded.home, "SELECT root_run_id FROM approvals")} == {
        recorded.root
    }
    assert [t for t, _ in real["checkpoints"]] == [recorded.root] * len(real["checkpoints"])
    assert len(query(scratch, "SELECT * FROM runs WHERE root_run_id = ?", new_root)) == 2
