"""`warden cluster up|down` as the README uses it: a real dev server, `warden serve --engine
temporal` and two `warden worker` processes; `warden doctor` sees them; the Acme demo
(fixtures/acme/demo.sh, unchanged) runs through the cluster; `down` stops every process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from _cluster import WAIT_S
from _wardencli import ACME_POLICY, PLUGINS, REPO

pytestmark = pytest.mark.slow


def _warden(*args: str, env: dict[str, str], timeout: float = WAIT_S) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "warden", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        check=False,
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (its parent, `cluster up`, has exited) is gone for our purpose
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def test_cluster_up_runs_the_demo_on_temporal_and_down_stops_it(tmp_path: Path) -> None:
    state = tmp_path / "state"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARDEN_") or k == "WARDEN_LEDGER_URL"}
    env["WARDEN_ANALYSER_PATH"] = str(PLUGINS)
    up = _warden(
        "cluster", "up", "--workers", "2", "--state", str(state), "--policy", str(ACME_POLICY), "--headless",
        env=env,
    )  # fmt: skip
    assert up.returncode == 0, up.stdout + up.stderr
    cluster = json.loads(up.stdout)
    assert set(cluster) == {"server_url", "temporal_address", "ui_url", "workers", "state"}
    assert len(cluster["workers"]) == 2 and cluster["ui_url"] is None
    pids = [w["pid"] for w in cluster["workers"]]
    try:
        on = {
            **env,
            "WARDEN_HOME": str(state),
            "WARDEN_POLICY": str(ACME_POLICY),
            "WARDEN_ENGINE": "temporal",
            "WARDEN_TEMPORAL_ADDRESS": cluster["temporal_address"],
        }
        # the workers register with the task queue within moments of starting
        deadline = time.monotonic() + WAIT_S
        while True:
            doctor = _warden("doctor", "--json", env=on)
            engine = json.loads(doctor.stdout)["engine"]
            if engine["ok"] or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert doctor.returncode == 0 and engine["ok"], engine
        assert engine["name"] == "temporal" and engine["pollers"]["activity"] >= 1, engine
        health = httpx.get(cluster["server_url"] + "/healthz", timeout=30).json()
        assert health["status"] == "ok" and health["engine"] == "ok", health

        demo = subprocess.run(
            ["bash", str(REPO / "fixtures" / "acme" / "demo.sh")],
            env=on,
            capture_output=True,
            text=True,
            timeout=3 * WAIT_S,
            check=False,
        )
        assert demo.returncode == 0, demo.stdout + demo.stderr
        runs = json.loads(_warden("runs", "--as", "dora@acme", "--json", env=on).stdout)
        assert runs and {r["status"] for r in runs} == {"completed"}, runs
        [root] = [r["run_id"] for r in runs if r["depth"] == 0]
        found = json.loads(_warden("findings", root, "--as", "dora@acme", "--json", env=on).stdout)
        assert found, demo.stdout
    finally:
        down = _warden("cluster", "down", "--state", str(state), env=env)
    assert down.returncode == 0, down.stdout + down.stderr
    stopped = json.loads(down.stdout)["stopped"]
    assert set(pids) <= set(stopped)
    deadline = time.monotonic() + 30
    while any(_alive(p) for p in stopped) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [p for p in stopped if _alive(p)]
    assert not (state / "cluster" / "cluster.json").exists()
