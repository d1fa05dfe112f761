"""What an analyst sees when the model endpoint fails: a coded reason naming the way out."""

from __future__ import annotations

import socket
from pathlib import Path

from _cli import analyse_with_runbook
from _support import MODEL, query, root_runbook, write_policy


def test_analyse_with_an_unreachable_endpoint_fails_with_a_coded_reason_and_keeps_the_labels(
    tmp_path: Path,
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    env = {
        "WARDEN_POLICY": str(write_policy(tmp_path)),
        "WARDEN_LLM_MODEL": MODEL,
        "OPENAI_BASE_URL": dead,
        "WARDEN_LLM_MAX_RETRIES": "1",
        "WARDEN_LLM_BACKOFF_S": "0",
    }
    done = analyse_with_runbook(tmp_path / "home", root_runbook(tmp_path), env=env)
    assert done.code == 1, str(done)
    assert ": failed" in done.out
    assert "reason: step 'plan' failed: [llm_connection]" in done.out
    assert "after 2 attempt(s)" in done.out and "planner: offline" in done.out
    assert "Traceback" not in done.err
    kept = query(tmp_path / "home", "SELECT step_id, status FROM steps ORDER BY step_id")
    assert [(r["step_id"], r["status"]) for r in kept] == [
        ("plan", "failed"),
        ("practices", "completed"),
        ("transparency", "completed"),
    ]
