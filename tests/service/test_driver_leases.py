"""Driver leases: held by a live process (another one, or another thread of this one), free once
the holder is gone however it ended, re-entrant for the thread that holds it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

from warden.service.driving import DriverLeases, this_driver

HOLD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from warden.service.driving import DriverLeases

    with DriverLeases(Path(sys.argv[1])).lease("run-0123456789ab"):
        print("held", flush=True)
        time.sleep(120)
    """
)


def test_a_lease_held_by_a_killed_process_is_free_and_names_it(tmp_path: Path) -> None:
    leases = DriverLeases(tmp_path)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert leases.driven_elsewhere("run-0123456789ab") == f"{this_driver().split(':')[0]}:{holder.pid}"
        with leases.lease("run-0123456789ab", wait=False) as mine:
            assert mine is False
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait(timeout=30)
    finally:
        if holder.poll() is None:
            os.killpg(holder.pid, signal.SIGKILL)
            holder.wait(timeout=30)
    assert leases.driven_elsewhere("run-0123456789ab") is None
    with leases.lease("run-0123456789ab", wait=False) as mine:
        assert mine is True
        assert leases.last_driver["run-0123456789ab"].endswith(f":{holder.pid}")  # the one that died
    with leases.lease("run-0123456789ab", wait=False) as mine:
        assert mine is True and leases.last_driver["run-0123456789ab"] is None  # a clean release


def test_a_lease_is_reentrant_for_its_thread_and_waited_for_by_others(tmp_path: Path) -> None:
    leases = DriverLeases(tmp_path)
    order: list[str] = []
    with leases.lease("run-aaaaaaaaaaaa"):
        with leases.lease("run-aaaaaaaaaaaa", wait=False) as again:
            assert again is True

        def other() -> None:
            with leases.lease("run-aaaaaaaaaaaa", wait=False) as mine:
                order.append(f"try:{mine}")
            with leases.lease("run-aaaaaaaaaaaa"):
                order.append("got")

        thread = threading.Thread(target=other)
        thread.start()
        time.sleep(0.3)
        order.append("release")
    thread.join(timeout=10)
    assert order == ["try:False", "release", "got"]
    with leases.lease("run-bbbbbbbbbbbb", wait=False) as mine:  # another tree: independent
        assert mine is True
