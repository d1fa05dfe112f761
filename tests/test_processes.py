"""`pid_alive`: the one liveness probe the driver leases (a decision's claimant) and `warden
cluster down` use, tried on real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from warden.processes import pid_alive


def test_a_running_process_is_alive_and_a_killed_one_is_not_even_before_it_is_reaped() -> None:
    assert pid_alive(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert pid_alive(child.pid)
        os.kill(child.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while pid_alive(child.pid) and time.monotonic() < deadline:  # a zombie until reaped
            time.sleep(0.05)
        assert not pid_alive(child.pid), "a killed, unreaped child (a zombie) counts as alive"
    finally:
        child.kill()
        child.wait(timeout=10)
    assert not pid_alive(child.pid)
