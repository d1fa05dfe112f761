"""Helpers of tests/temporal: a cluster of worker processes over one state directory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _wardencli import PLUGINS

from warden.graph.temporal.engine import TemporalEngine
from warden.graph.temporal.settings import TemporalSettings
from warden.service import Service
from warden.worker.cluster import dev_server_command, free_port

WAIT_S = 240.0
"""The longest any test here waits for one thing (a tree to settle, a step to start, a thread to
end): generous for a loaded 2-core host, and bounded, so a hang fails instead of stalling CI."""


@dataclass
class Cluster:
    home: Path
    settings: TemporalSettings
    policy: Path
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    services: list[Service] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("WARDEN_") or k == "WARDEN_LEDGER_URL"}
        env.update(
            WARDEN_HOME=str(self.home),
            WARDEN_ANALYSER_PATH=str(PLUGINS),
            WARDEN_ENGINE="temporal",
            WARDEN_TEMPORAL_ADDRESS=self.settings.address,
            WARDEN_TEMPORAL_TASK_QUEUE=self.settings.task_queue,
        )
        return env

    def start_workers(self, n: int) -> None:
        for _ in range(n):
            with open(self.home / f"worker-{len(self.workers)}.log", "wb") as log:
                self.workers.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "warden", "worker"],
                        env=self.env(),
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )

    def service(self) -> Service:
        """A service like one `warden serve --engine temporal` process holds (threaded store)."""
        os.environ["WARDEN_ANALYSER_PATH"] = str(PLUGINS)
        service = Service(self.home, policy=self.policy, engine=TemporalEngine(self.settings))
        service.store.threaded = True
        service.policies.in_force(may_initialise=True)
        self.services.append(service)
        return service

    def stop(self) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.workers:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


def findings_shape(rows: list[dict[str, Any]], root: str) -> list[tuple[Any, ...]]:
    """Findings without the run ids that differ between two trees of the same input."""
    return sorted(
        (
            r["run_id"].replace(root, "ROOT"),
            r["step_id"],
            r["code"],
            r["severity"],
            r["category"],
            r.get("title"),
            str(r.get("evidence")),
        )
        for r in rows
    )


def start_dev_server(binary: Path, folder: Path, port: int) -> subprocess.Popen[bytes]:
    """The Temporal CLI's development server on loopback `port`, its state in folder/temporal.db
    (the same folder and port again is the same server restarted), logging to folder/server.log."""
    with open(folder / "server.log", "ab") as log:
        return subprocess.Popen(
            dev_server_command(binary, folder, port, free_port(), log_level="error"),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
