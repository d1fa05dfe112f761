"""Long analyses say which step runs on a terminal, and stay quiet when piped."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _approve(home: Path, stderr_tty: bool) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARDEN_") or k == "WARDEN_LEDGER_URL"}
    env.update(WARDEN_HOME=str(home), WARDEN_POLICY=str(REPO / "fixtures/acme/policy.yaml"), COLUMNS="200")
    base = [sys.executable, "-m", "warden"]
    started = subprocess.run(
        [*base, "analyse", str(REPO / "fixtures/acme/notice.md"), "-t", "acme", "--as", "ana@acme", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    run_id = started.stdout.split('"run_id": "')[1].split('"')[0]
    argv = [*base, "approve", run_id, "--as", "dora@acme", "--role", "dpo"]
    if not stderr_tty:
        return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300).stderr
    leader, follower = pty.openpty()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=follower)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        chunks.append(chunk)
    proc.wait(timeout=300)
    os.close(leader)
    return b"".join(chunks).decode(errors="replace")


def test_a_terminal_sees_each_step_as_it_starts(tmp_path: Path) -> None:
    shown = _approve(tmp_path / "home", stderr_tty=True)
    assert "step 1 of 4: practices (policy_practices)" in shown
    assert "step 4 of 4: checks (child runbook)" in shown


def test_a_pipe_gets_no_progress_lines(tmp_path: Path) -> None:
    assert "step 1 of" not in _approve(tmp_path / "home", stderr_tty=False)
