"""`warden cluster down` signals only the processes `up` started: a recorded pid is checked
against the start time `up` recorded (warden.processes.process_start), a pid that now names
another process is reported gone, and a pid recorded without a start time (an older record) is
never signalled. Real processes; Linux /proc."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from warden.errors import WardenError
from warden.processes import pid_alive, process_start, same_process
from warden.worker.cluster import down

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="Linux /proc")

ODD_NAME = "a) b (c) d"
"""A comm with spaces and parentheses: /proc/<pid>/stat must be split after the last ')'."""


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    code = f"open('/proc/self/comm', 'w').write({ODD_NAME!r}); import time; time.sleep(120)"
    proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{proc.pid}/comm").read_text().strip() != ODD_NAME:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    yield proc
    proc.kill()
    proc.wait(timeout=10)


def _record(state: Path, pid: int, started: str | None) -> Path:
    folder = state / "cluster"
    folder.mkdir(parents=True)
    record: dict[str, object] = {
        "state": str(state),
        "pids": {"temporal": None, "workers": [pid], "server": None},
    }
    if started is not None:
        record["started"] = {str(pid): started}
    (folder / "cluster.json").write_text(json.dumps(record))
    return folder / "cluster.json"


def test_a_process_start_survives_an_odd_name_and_differs_between_processes(
    sleeper: subprocess.Popen[bytes],
) -> None:
    started = process_start(sleeper.pid)
    assert started is not None and started == process_start(sleeper.pid)
    assert started != process_start(1) and process_start(sleeper.pid) != process_start(0)
    assert pid_alive(sleeper.pid) and same_process(sleeper.pid, started)
    assert not same_process(sleeper.pid, started + "0")


def test_down_stops_a_process_it_started(tmp_path: Path, sleeper: subprocess.Popen[bytes]) -> None:
    started = process_start(sleeper.pid)
    assert started
    record = _record(tmp_path, sleeper.pid, started)
    said = down(tmp_path)
    assert said["stopped"] == [sleeper.pid] and said["gone"] == []
    assert sleeper.wait(timeout=15) is not None and not record.exists()


def test_down_leaves_a_process_that_reused_the_pid_and_says_gone(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    record = _record(tmp_path, sleeper.pid, "linux:another-boot:12345")
    said = down(tmp_path)
    time.sleep(0.2)
    assert said["stopped"] == [] and said["gone"] == [sleeper.pid]
    assert sleeper.poll() is None and not record.exists()


def test_down_does_not_signal_a_pid_recorded_without_its_start(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    record = _record(tmp_path, sleeper.pid, None)
    with pytest.raises(WardenError) as refused:
        down(tmp_path)
    assert refused.value.code == "cluster_unverified" and str(sleeper.pid) in (refused.value.fix or "")
    time.sleep(0.2)
    assert sleeper.poll() is None and record.exists(), "the record is kept for the operator"


def test_down_says_gone_for_a_recorded_process_that_ended(tmp_path: Path) -> None:
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait(timeout=10)
    record = _record(tmp_path, ended.pid, None)  # ended: nothing to verify, nothing to signal
    assert down(tmp_path) == {"stopped": [], "gone": [ended.pid], "state": str(tmp_path)}
    assert not record.exists()
