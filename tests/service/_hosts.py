"""What the tests of hosts on a shared ledger have in common (test_host_liveness.py,
test_host_fencing.py): a short heartbeat interval, the services a test made (stopped after
it), the environment of a `warden` subprocess of a host, waiting, and killing a process group
that may be stopped (SIGSTOP)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from _acme_tree import ACME
from tests.graph._wardencli import PLUGINS

from warden.service import Service
from warden.service.liveness import LIVE_BEATS

BEAT_S = 0.5
"""The heartbeat interval of every process of these tests: the window is LIVE_BEATS x this."""
WINDOW_S = LIVE_BEATS * BEAT_S
NOTICE = ACME / "notice.md"
SERVE = [sys.executable, "-m", "warden", "serve"]

_made: list[Service] = []


@pytest.fixture(autouse=True)
def made() -> Iterator[list[Service]]:
    """The services a test made: their heartbeats stopped and stores closed after it."""
    _made.clear()
    yield _made
    for service in _made:
        service.stop_heartbeat()
        service.store.close()
    _made.clear()


def host_service(home: Path, policy: Path = ACME / "policy.yaml", **kwargs: Any) -> Service:
    """A service of the host whose state directory is `home`, stopped after the test."""
    service = Service(home, policy=policy, **kwargs)
    _made.append(service)
    return service


def host_env(home: Path, tmp: Path) -> dict[str, str]:
    """The environment of a `warden` subprocess of the host at `home` (the test analysers'
    signals in `tmp`), the shared ledger's URL kept and every other Warden setting dropped."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARDEN_") or k == "WARDEN_LEDGER_URL"}
    env.update(
        WARDEN_HOME=str(home),
        WARDEN_HOST_BEAT_S=str(BEAT_S),
        WARDEN_ANALYSER_PATH=str(PLUGINS),
        WTEST_SIGNALS=str(tmp),
        NO_COLOR="1",
        COLUMNS="250",
    )
    return env


def wait_for(check: Callable[[], Any], what: str, timeout_s: float = 90) -> Any:
    """`check()`'s first true answer, polled every 0.1 s; the test fails naming `what` after."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def kill_group(proc: subprocess.Popen[Any], sig: int = signal.SIGKILL) -> None:
    """Signal a subprocess's group (woken first: a stopped process acts on nothing else), and reap it."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGCONT)
        os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
