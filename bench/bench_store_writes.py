"""What one small write costs in the DuckDB store: the unit a graph step pays several times.

    python bench/bench_store_writes.py [--runs 30]

Each case is one committed transaction on a held store (as inside a graph invocation), timed
`--runs` times; prints the median wall and CPU milliseconds. The gap between wall and CPU time
is mostly the commit's fsync.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from itertools import count
from pathlib import Path
from typing import Any

from _common import median

from warden.schemas import Finding
from warden.store import Store, audit, findings
from warden.store._util import now
from warden.store.findings import FINDING_COLUMNS

_FINDING = Finding(id="f", analyser="a", code="c", title="t", severity="low", category="cat", message="m")


def _finding_row(n: int) -> list[Any]:
    return [
        f"run{n}",
        "f",
        "root",
        "s",
        "acme",
        "a",
        "c",
        "t",
        "low",
        "cat",
        "m",
        None,
        None,
        None,
        "[]",
        "{}",
        now(),
    ]


def _cases() -> dict[str, Callable[[Any, int], None]]:
    columns = ", ".join(FINDING_COLUMNS)
    marks = ", ".join("?" for _ in FINDING_COLUMNS)
    return {
        "empty transaction": lambda con, n: None,
        "one finding, plain insert": lambda con, n: con.execute(
            f"INSERT INTO findings ({columns}) VALUES ({marks})", _finding_row(n)
        ),
        "one finding, upsert (as the step node)": lambda con, n: findings.upsert_findings(
            con, [_FINDING], run_id=f"run{n}", root_run_id="root", step_id="s", tenant="acme"
        ),
        "one audit event (keyed, ON CONFLICT DO NOTHING)": lambda con, n: audit.audit(
            con, run_id="r", root_run_id="root", tenant="acme", actor="w", event="e", key=f"k{n}"
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "warden.duckdb")
        ids = count()
        with store.hold():
            with store.connect():
                pass  # open the file and create the schema outside the timings
            for name, write in _cases().items():
                walls, cpus = [], []
                for _ in range(args.runs):
                    wall, cpu = time.perf_counter(), time.process_time()
                    with store.connect() as con:
                        write(con, next(ids))
                    walls.append(time.perf_counter() - wall)
                    cpus.append(time.process_time() - cpu)
                results[name] = {
                    "wall_ms": round(median(walls) * 1000, 2),
                    "cpu_ms": round(median(cpus) * 1000, 2),
                }
                print(f"{name}: {results[name]['wall_ms']} ms wall, {results[name]['cpu_ms']} ms CPU")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
