"""`warden replay`: a recorded LLM-planned run tree, re-executed from its recordings alone.

The original run is made through the CLI against the loopback endpoint (one 429, one
malformed answer, then the plan) and its child is approved by the DPO in another process.
The endpoint is then shut down and the replay runs with no network at all.
"""

from __future__ import annotations

import json
import shutil
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
        approved = warden(
            tmp / "home", "approve", f"{root}.checks", "--as", "dora@acme", "--role", "dpo", env=env
        )
        assert approved.code == 0, str(approved)
        requests, url = len(endpoint.requests), endpoint.url
    return Recorded(tmp / "home", policy, root, requests, url)


def _replay(home: Path, recorded: Recorded) -> Done:
    # the endpoint is gone: any network call would fail with a connection error
    return warden(home, "replay", recorded.root, "--json", env=_env(recorded.policy, recorded.dead_url))


@pytest.fixture(scope="module")
def replayed(recorded: Recorded) -> Done:
    return _replay(recorded.home, recorded)


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
    original, again = _findings(recorded.home, recorded.root), _findings(recorded.home, new_root)
    assert original == again
    assert b"gdpr.missing.retention" in original and original.count(b"finding_id") == 2


def test_replay_decides_the_child_as_recorded_and_publishes_the_same_runbook(
    recorded: Recorded, replayed: Done
) -> None:
    new_root = replayed.json()["run_id"]
    assert replayed.json()["decisions"] == [
        {"run_id": f"{new_root}.checks", "decision": "approve", "approver": "dora@acme"}
    ]
    shas = query(
        recorded.home,
        "SELECT run_id, runbook_sha256 FROM runs WHERE run_id IN (?, ?)",
        f"{recorded.root}.checks",
        f"{new_root}.checks",
    )
    assert len({r["runbook_sha256"] for r in shas}) == 1
    (decision,) = query(recorded.home, "SELECT * FROM approvals WHERE run_id = ?", f"{new_root}.checks")
    assert (decision["approver"], decision["role"]) == ("dora@acme", "dpo")
    assert f"replay of the decision recorded for run {recorded.root}.checks" in decision["comment"]


def test_replayed_calls_are_recorded_as_replayed_and_cost_nothing(recorded: Recorded, replayed: Done) -> None:
    new_root = replayed.json()["run_id"]
    calls = query(recorded.home, 'SELECT * FROM llm_calls WHERE root_run_id = ? ORDER BY "at"', new_root)
    original = query(
        recorded.home, 'SELECT * FROM llm_calls WHERE root_run_id = ? ORDER BY "at"', recorded.root
    )
    assert [c["request_hash"] for c in calls] == [c["request_hash"] for c in original]
    assert [c["outcome"] for c in calls] == ["rate_limited", "ok", "ok"]
    assert all(c["replayed"] and c["cost_usd"] == 0 for c in calls)
    spent = query(
        recorded.home, "SELECT sum(amount_usd) AS usd FROM cost_ledger WHERE root_run_id = ?", new_root
    )
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
    done = warden(recorded.home, "replay", "run-nope", env={"WARDEN_POLICY": str(recorded.policy)})
    assert done.code == 2
    assert "unknown_run" in done.err and "Traceback" not in done.err
