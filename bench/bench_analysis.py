"""Full offline analyses, plan to findings, with an auto-approval policy (no human in the loop).

    python bench/bench_analysis.py [--runs 5] [--batch 100] [--pages 300] [--only in_process ...]

Prints, each as a median of several runs:
- one analysis of the Acme notice in a warm process (rules loaded, LangGraph imported) whose
  service is set up as the server's and a worker's are (``Service.long_lived()``: the DuckDB
  file lingers open from one analysis to the next; a Warden without it opens and closes the
  file per analysis, as it did everywhere), its DuckDB opens, and orchestration time against
  the analysers' own time: wall
  (``orchestration_vs_analysers``: (wall - the analysers' recorded step durations) / those
  durations, the issue's figure) and CPU (``orchestration_vs_analysers_cpu``: (process CPU -
  the CPU of the analysers' own calls, thread time) / that CPU, steadier on a shared machine);
- the same from a cold `warden analyse` process;
- a batch of `--batch` notices in one process (per notice and total);
- resume latency: a fresh `warden resume` of a tree killed just before its last node;
- peak RSS of a `--pages`-page PDF analysis (fresh process).
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ACME, LAST_CPU, auto_policy, env, median, text_pdf, warden

NOTICE = ACME / "notice.md"


def _count_opens() -> list[int]:
    """Count DuckDB file opens (works on any version of the store, for before/after figures)."""
    import duckdb

    opened = [0]
    real = duckdb.connect

    def counting(*args: object, **kwargs: object) -> object:
        opened[0] += 1
        return real(*args, **kwargs)

    duckdb.connect = counting
    return opened


def _count_analyser_cpu() -> list[float]:
    """Sum the CPU time of the analysers' own calls (each runs in a worker thread: its thread's
    CPU time), by wrapping what the catalogue loads (any version of Warden)."""
    from warden.catalogue import Catalogue

    spent = [0.0]
    real = Catalogue.load

    def load(self: Catalogue, name: str):  # type: ignore[no-untyped-def]
        fn = real(self, name)

        def timed(*args: object, **kwargs: object) -> object:
            started = time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[0] += time.thread_time() - started

        return timed

    Catalogue.load = load  # type: ignore[method-assign]
    return spent


def _in_process(tmp: Path, runs: int, batch: int) -> dict:
    opened = _count_opens()
    analyser_cpu = _count_analyser_cpu()
    from warden.service import Service

    svc = Service(tmp / "warm", policy=auto_policy(tmp / "auto.yaml"))
    if hasattr(svc, "long_lived"):  # as the server and a worker set theirs up
        svc.long_lived()
    ana = svc.principal("ana@acme", "asserted", writing=True)
    svc.start(ana, NOTICE, tenant="acme")  # warm-up: imports, rules, schema
    walls, cpus, opens, shares, cpu_shares = [], [], [], [], []
    for _ in range(runs):
        before = opened[0]
        own_cpu = analyser_cpu[0]
        cpu0, started = time.process_time(), time.perf_counter()
        outcome = svc.start(ana, NOTICE, tenant="acme")
        walls.append(time.perf_counter() - started)
        cpus.append(time.process_time() - cpu0)
        opens.append(opened[0] - before)
        own_cpu = analyser_cpu[0] - own_cpu
        cpu_shares.append((cpus[-1] - own_cpu) / own_cpu)
        assert outcome.status == "completed", outcome
        own = svc.store.query(
            "SELECT coalesce(sum(s.duration_s), 0) AS t FROM steps s JOIN runs r USING (run_id) "
            "WHERE r.root_run_id = ? AND s.kind = 'analyser'",
            [outcome.root_run_id],
        )[0]["t"]
        shares.append((walls[-1] - own) / own)
    started = time.perf_counter()
    for _ in range(batch):
        svc.start(ana, NOTICE, tenant="acme")
    batch_s = time.perf_counter() - started
    return {
        "warm_analysis_s": round(median(walls), 3),
        "warm_analysis_cpu_s": round(median(cpus), 3),
        "duckdb_opens_per_analysis": median(opens),
        "orchestration_vs_analysers": round(median(shares), 3),
        "orchestration_vs_analysers_cpu": round(median(cpu_shares), 3),
        f"batch_{batch}_total_s": round(batch_s, 2),
        f"batch_{batch}_per_notice_s": round(batch_s / max(batch, 1), 3),
    }


def _analyse_argv(document: Path, policy: Path) -> list[str]:
    """`warden analyse` of one document for Ana at Acme under the auto-approval policy."""
    who = ["--tenant", "acme", "--as", "ana@acme"]
    return ["analyse", str(document), *who, "--policy", str(policy), "--json"]


def _cold(tmp: Path, runs: int) -> dict:
    policy = auto_policy(tmp / "auto.yaml")
    walls, cpus = [], []
    for n in range(runs):
        home = tmp / f"cold-{n}"
        argv = _analyse_argv(NOTICE, policy)
        wall, _, _ = warden(argv, env(home))
        walls.append(wall)
        cpus.append(LAST_CPU[0])
        shutil.rmtree(home)
    return {"cold_cli_analysis_s": round(median(walls), 3), "cold_cli_analysis_cpu_s": round(median(cpus), 3)}


def _resume(tmp: Path, runs: int) -> dict:
    policy = auto_policy(tmp / "auto.yaml")
    walls, cpus = [], []
    for n in range(runs):
        home = tmp / f"resume-{n}"
        argv = _analyse_argv(NOTICE, policy)
        killed = subprocess.run(
            [sys.executable, "-m", "warden", *argv],
            env=env(home, WARDEN_TEST_KILL_AT="before:finish:2"),
            capture_output=True,
            text=True,
        )
        if killed.returncode != -signal.SIGKILL:  # a Warden without the kill hook (a "before" run)
            return {"resume_fresh_process_s": None}
        from warden.store import Store

        (root,) = [
            r["run_id"]
            for r in Store(home / "warden.duckdb").query("SELECT run_id FROM runs WHERE depth = 0")
        ]
        argv = ["resume", root, "--as", "ana@acme", "--policy", str(policy), "--json"]
        wall, _, out = warden(argv, env(home))
        assert json.loads(out)["status"] == "completed", out
        walls.append(wall)
        cpus.append(LAST_CPU[0])
        shutil.rmtree(home)
    return {
        "resume_fresh_process_s": round(median(walls), 3),
        "resume_fresh_process_cpu_s": round(median(cpus), 3),
    }


def _big_pdf(tmp: Path, pages: int) -> dict:
    policy = auto_policy(tmp / "auto.yaml")
    pdf = tmp / f"notice-{pages}.pdf"
    pdf.write_bytes(text_pdf(pages))
    argv = _analyse_argv(pdf, policy)
    wall, peak, out = warden(argv, env(tmp / "big"))
    return {
        f"pdf_{pages}_pages_status": json.loads(out.splitlines()[-1])["status"],
        f"pdf_{pages}_pages_s": round(wall, 2),
        f"pdf_{pages}_pages_cpu_s": round(LAST_CPU[0], 2),
        f"pdf_{pages}_pages_peak_rss_mb": round(peak),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument(
        "--only",
        choices=("in_process", "cold", "resume", "pdf"),
        action="append",
        help="run only these parts (repeatable; default: all)",
    )
    args = parser.parse_args()
    only = set(args.only or ("in_process", "cold", "resume", "pdf"))
    results: dict = {}
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        for name, part in (
            ("in_process", lambda: _in_process(tmp, args.runs, args.batch)),
            ("cold", lambda: _cold(tmp, args.runs)),
            ("resume", lambda: _resume(tmp, args.runs)),
            ("pdf", lambda: _big_pdf(tmp, args.pages)),
        ):
            if name not in only:
                continue
            found = part()
            for key, value in found.items():
                print(f"{key}: {value}")
            results.update(found)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
