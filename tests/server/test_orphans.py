"""Runs a server left `running` when it stopped: a real `warden serve` subprocess is SIGKILLed
mid-step and started again; it resumes the run once (no step completes twice, no finding is
duplicated). A run a live CLI process is driving when the server starts is left to that CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.graph._wardencli import PLUGINS, acme_policy_data, runbook, slow, write_yaml
from tests.server.conftest import NOTICE, PASSWORD, free_port

from warden.service import Service
from warden.store import Store


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARDEN_") or k == "WARDEN_LEDGER_URL"}
    env.update(WARDEN_HOME=str(home), WARDEN_ANALYSER_PATH=str(PLUGINS), NO_COLOR="1", COLUMNS="200")
    return env


@dataclass
class Served:
    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")


@dataclass
class Setup:
    home: Path
    policy: Path
    book: Path
    tokens: dict[str, str]
    tmp: Path

    def serve(self, name: str, grace_s: float) -> Served:
        port = free_port()
        log = self.tmp / f"{name}.log"
        argv = [sys.executable, "-m", "warden", "serve", "--port", str(port), "--policy", str(self.policy)]
        proc = subprocess.Popen(
            [*argv, "--orphan-grace", str(grace_s)],
            env=_env(self.home),
            stdout=subprocess.DEVNULL,
            stderr=log.open("wb"),
            start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    return Served(proc, url, log)
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)

    def api(self, served: Served, user: str) -> httpx.Client:
        return httpx.Client(
            base_url=served.url, headers={"Authorization": f"Bearer {self.tokens[user]}"}, timeout=60
        )

    def query(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        return Store(self.home / "warden.duckdb").query(sql, list(params))

    def steps(self, run_id: str) -> dict[str, tuple[str, int]]:
        found = self.query("SELECT step_id, status, attempts FROM steps WHERE run_id = ?", run_id)
        return {s["step_id"]: (s["status"], s["attempts"]) for s in found}

    def events(self, run_id: str) -> list[dict[str, Any]]:
        found = self.query(
            "SELECT event, actor, payload_json FROM audit_events WHERE run_id = ? ORDER BY seq", run_id
        )
        return [{**e, "payload": json.loads(e["payload_json"])} for e in found]


def _stop(served: Served) -> None:
    if served.proc.poll() is None:
        os.killpg(served.proc.pid, signal.SIGTERM)
        try:
            served.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(served.proc.pid, signal.SIGKILL)
            served.proc.wait(timeout=30)


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    policy = write_yaml(tmp_path / "policy.yaml", acme_policy_data())
    book = write_yaml(
        tmp_path / "crash.yaml",
        runbook("crash-review", [slow("first"), slow("sleepy", seconds=4), slow("last")]),
    )
    home = tmp_path / "home"
    service = Service(home, policy=policy)
    tokens = {}
    for user in ("ana@acme", "dora@acme"):
        service.accounts.add_user(user, "acme", PASSWORD)
        tokens[user] = service.accounts.issue_token(user, timedelta(days=1)).secret
    yield Setup(home, policy, book, tokens, tmp_path)


def _wait(check: Any, what: str, timeout_s: float = 90) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_a_server_killed_mid_step_resumes_the_run_when_it_starts_again(setup: Setup) -> None:
    first = setup.serve("first", grace_s=1)
    try:
        with setup.api(first, "ana@acme") as ana:
            r = ana.post(
                "/api/runs",
                data={"tenant": "acme", "runbook_yaml": setup.book.read_text()},
                files={"file": ("notice.md", NOTICE.read_bytes())},
            )
            assert r.status_code == 202, r.text
            root = r.json()["run_id"]
            _wait(
                lambda: ana.get(f"/api/runs/{root}").json()["run"]["status"] == "waiting_approval", "approval"
            )
        with setup.api(first, "dora@acme") as dora:
            r = dora.post(f"/api/runs/{root}/decision", json={"decision": "approve", "role": "dpo"})
            assert r.status_code == 200, r.text

            def sleepy_running() -> bool:
                steps = dora.get(f"/api/runs/{root}/tree").json()[0]["steps"]
                return any(s["step_id"] == "sleepy" and s["status"] == "running" for s in steps)

            _wait(sleepy_running, "the sleepy step")
        os.killpg(first.proc.pid, signal.SIGKILL)
        first.proc.wait(timeout=30)
    finally:
        _stop(first)
    assert first.proc.returncode == -signal.SIGKILL
    assert setup.query("SELECT status FROM runs WHERE run_id = ?", root)[0]["status"] == "running"
    assert setup.steps(root) == {"first": ("completed", 1), "sleepy": ("running", 1)}

    second = setup.serve("second", grace_s=1)
    try:
        with setup.api(second, "dora@acme") as dora:
            _wait(lambda: dora.get(f"/api/runs/{root}").json()["run"]["status"] == "completed", "completion")
        assert "resuming it" in second.stderr()
    finally:
        _stop(second)
    assert setup.steps(root) == {
        "first": ("completed", 1),  # finished before the kill: never run again
        "sleepy": ("completed", 2),  # in flight at the kill: run again, completed once
        "last": ("completed", 1),
    }
    findings = setup.query("SELECT finding_id FROM findings WHERE root_run_id = ? ORDER BY finding_id", root)
    assert [f["finding_id"] for f in findings] == ["wtest_slow-first", "wtest_slow-last", "wtest_slow-sleepy"]
    events = setup.events(root)
    names = [e["event"] for e in events]
    assert names.count("orphan_resumed") == 1
    assert names.count("approval:approve") == 1 and names.count("run_finished") == 1
    (resumed,) = [e for e in events if e["event"] == "orphan_resumed"]
    assert resumed["actor"] == "server@host"
    assert resumed["payload"]["previous_driver"].endswith(f":{first.proc.pid}")
    assert resumed["payload"]["driver"].endswith(f":{second.proc.pid}")
    from warden.store import audit

    with Store(setup.home / "warden.duckdb").connect(read_only=True) as con:
        assert audit.verify_chain(con, "acme").ok


def test_a_run_a_live_cli_drives_is_left_to_it(setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARDEN_ANALYSER_PATH", str(PLUGINS))  # the test analysers, in this process too
    monkeypatch.setenv("WTEST_SIGNALS", str(setup.tmp))  # the sleepy step ends once the
    go = setup.tmp / "go"  # server has looked at the run, however slow the machine
    book = write_yaml(
        setup.tmp / "long.yaml",
        runbook("long-review", [slow("first"), slow("sleepy", seconds=300, until="go"), slow("last")]),
    )
    from warden.catalogue import Catalogue

    service = Service(setup.home, policy=setup.policy, catalogue=Catalogue.discover())
    waiting = service.start(service.principal("ana@acme"), NOTICE, tenant="acme", runbook=book)
    root = waiting.root_run_id
    assert waiting.status == "waiting_approval", (waiting.reason, setup.events(root))
    cli = subprocess.Popen(
        [sys.executable, "-m", "warden", "approve", root, "--as", "dora@acme", "--role", "dpo"],
        env=_env(setup.home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _wait(lambda: setup.steps(root).get("sleepy") == ("running", 1), "the CLI's sleepy step")
        # the CLI holds the tree's lease: resuming it now would run it twice
        from warden.service.driving import RunBusy

        with pytest.raises(RunBusy) as busy:
            service.resume(service.principal("dora@acme"), root)
        assert busy.value.code == "run_busy" and f":{cli.pid}" in busy.value.message
        served = setup.serve("beside-the-cli", grace_s=0.2)
        try:
            _wait(lambda: "left to it" in served.stderr(), "the server to look at the run")
            go.touch()
            out, err = cli.communicate(timeout=120)
            assert cli.returncode == 0, out + err
        finally:
            _stop(served)
    finally:
        if cli.poll() is None:
            os.killpg(cli.pid, signal.SIGKILL)
            cli.wait(timeout=30)
    assert "resuming it" not in served.stderr()
    assert setup.steps(root) == {
        "first": ("completed", 1),
        "sleepy": ("completed", 1),
        "last": ("completed", 1),
    }
    assert "orphan_resumed" not in [e["event"] for e in setup.events(root)]
    assert setup.query("SELECT status FROM runs WHERE run_id = ?", root)[0]["status"] == "completed"
