"""Graph overhead per step: Warden's governed graph against a bare LangGraph graph of the same
shape (ingest -> plan -> guard -> approval -> step* -> finish, SQLite checkpointer, durability
"sync"), both running no-op steps.

    python bench/bench_graph_overhead.py [--steps 40] [--runs 5]

Warden's steps are the test analyser `wtest_slow` with seconds=0 (tests/graph/plugins); the
per-step cost is (time with N steps - time with 1 step) / (N - 1), so fixed costs cancel. CPU
time is the process's (DuckDB's and the checkpointer's threads included): steadier than wall
time on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any, TypedDict

import yaml
from _common import REPO, auto_policy, median

PLUGINS = REPO / "tests" / "graph" / "plugins"


class _State(TypedDict, total=False):
    cursor: int
    total: int


def _bare_graph(path: Path) -> Any:
    from langgraph.checkpoint.sqlite import SqliteSaver
    from langgraph.graph import END, START, StateGraph

    graph: Any = StateGraph(_State)
    for name in ("ingest", "plan", "guard", "approval", "finish"):
        graph.add_node(name, lambda s: {})
    graph.add_node("step", lambda s: {"cursor": s.get("cursor", 0) + 1})
    graph.add_edge(START, "ingest")
    graph.add_edge("ingest", "plan")
    graph.add_edge("plan", "guard")
    graph.add_edge("guard", "approval")
    graph.add_edge("approval", "step")
    graph.add_conditional_edges("step", lambda s: "step" if s["cursor"] < s["total"] else "finish")
    graph.add_edge("finish", END)
    conn = sqlite3.connect(str(path), check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    saver = SqliteSaver(conn)
    saver.setup()
    return graph.compile(checkpointer=saver)


def _per_step(times: list[tuple[int, float, float]], steps: int) -> tuple[float, float]:
    """(wall, CPU) seconds per extra step: medians with `steps` steps less medians with one."""

    def med(total: int, index: int) -> float:
        return median([t[index] for t in times if t[0] == total])

    return (med(steps, 1) - med(1, 1)) / (steps - 1), (med(steps, 2) - med(1, 2)) / (steps - 1)


def _timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[float, float, Any]:
    """(wall s, CPU s, result) of ``fn(*args, **kwargs)``."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn(*args, **kwargs)
    return time.perf_counter() - wall, time.process_time() - cpu, result


def _bare(tmp: Path, steps: int, runs: int) -> tuple[float, float]:
    app = _bare_graph(tmp / "bare.sqlite")
    times = []
    for n in range(runs):
        for total in (1, steps):
            config = {"configurable": {"thread_id": f"{n}-{total}"}}
            wall, cpu, _ = _timed(app.invoke, {"cursor": 0, "total": total}, config, durability="sync")
            times.append((total, wall, cpu))
    return _per_step(times, steps)


def _warden(tmp: Path, steps: int, runs: int) -> tuple[float, float, float]:
    os.environ["WARDEN_ANALYSER_PATH"] = str(PLUGINS)
    from warden.service import Service

    data = yaml.safe_load(auto_policy(tmp / "policy.yaml").read_text())
    acme = data["tenants"]["acme"]
    acme["analysers"].append("wtest_slow")
    acme["approval"]["auto_approve"][0]["analysers"].append("wtest_slow")
    (tmp / "policy.yaml").write_text(yaml.safe_dump(data))
    svc = Service(tmp / "home", policy=tmp / "policy.yaml")
    ana = svc.principal("ana@acme", "asserted", writing=True)
    books = {}
    for total in (1, steps):
        book = {
            "runbook": f"noop-{total}",
            "version": 1,
            "tenant": "acme",
            "inputs": {"document": "document"},
            "approval": {"required_role": "dpo"},
            "steps": [
                {"id": f"s{i}", "analyser": "wtest_slow", "config": {"seconds": 0}} for i in range(total)
            ],
        }
        books[total] = tmp / f"noop-{total}.yaml"
        books[total].write_text(yaml.safe_dump(book))
    notice = REPO / "fixtures" / "acme" / "notice.md"
    svc.start(ana, notice, tenant="acme", runbook=books[1])  # warm-up
    times, own = [], []
    for _ in range(runs):
        for total in (1, steps):
            wall, cpu, outcome = _timed(svc.start, ana, notice, tenant="acme", runbook=books[total])
            times.append((total, wall, cpu))
            if total == steps:
                own.append(
                    svc.store.query(
                        "SELECT sum(duration_s) AS t FROM steps WHERE run_id = ?", [outcome.root_run_id]
                    )[0]["t"]
                )
    return (*_per_step(times, steps), median(own) / steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        bare, bare_cpu = _bare(tmp, args.steps, args.runs)
        warden, warden_cpu, analyser = _warden(tmp, args.steps, args.runs)
    results = {
        "bare_langgraph_ms_per_step": round(bare * 1000, 2),
        "bare_langgraph_cpu_ms_per_step": round(bare_cpu * 1000, 2),
        "warden_ms_per_step": round(warden * 1000, 2),
        "warden_cpu_ms_per_step": round(warden_cpu * 1000, 2),
        "warden_over_bare": round(warden / bare, 1),
        "warden_over_bare_cpu": round(warden_cpu / bare_cpu, 1),
        "noop_analyser_ms_per_step": round(analyser * 1000, 2),
    }
    for key, value in results.items():
        print(f"{key}: {value}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
