"""DuckDB at scale: the insert rate of findings, and the notebook's main queries over them.

    python bench/bench_store.py [--findings 1000000] [--runs 5]

Fills a fresh store with `--findings` findings across 1,000 run trees (through
`findings.upsert_findings`, the path the executor uses), then times each investigation query
(median of `--runs`): findings by severity, by category and by system for one tenant, one
tree's findings, the execution tree of a root, and the approvals timeline. Target: each
under 100 ms at one million findings.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from datetime import datetime
from pathlib import Path

from _common import median

from warden.schemas import Finding
from warden.store import Store, findings, runs

QUERIES = {
    "findings_by_severity": (
        "SELECT severity, count(*) FROM findings WHERE tenant = ? GROUP BY severity",
        ["acme"],
    ),
    "findings_by_category": (
        "SELECT category, count(*) FROM findings WHERE tenant = ? GROUP BY category ORDER BY 2 DESC",
        ["acme"],
    ),
    "findings_by_system": (
        "SELECT system_id, severity, count(*) FROM findings WHERE tenant = ? GROUP BY ALL ORDER BY 3 DESC",
        ["acme"],
    ),
    "findings_of_one_tree": (
        "SELECT * FROM findings WHERE root_run_id = ? ORDER BY severity, finding_id",
        ["root-000500"],
    ),
    "execution_tree": (
        """WITH RECURSIVE sub(run_id) AS (
               SELECT run_id FROM runs WHERE run_id = ?
               UNION ALL SELECT r.run_id FROM runs r JOIN sub s ON r.parent_run_id = s.run_id)
           SELECT r.run_id, r.status, s.step_id, s.status, s.duration_s
           FROM runs r JOIN sub USING (run_id) LEFT JOIN steps s USING (run_id) ORDER BY r.depth""",
        ["root-000500"],
    ),
    "approvals_timeline": (
        "SELECT date_trunc('day', decided_at) AS day, decision, count(*) FROM approvals "
        "WHERE tenant = ? GROUP BY ALL ORDER BY day",
        ["acme"],
    ),
}

SEVERITIES = ("info", "low", "medium", "high", "critical")
CATEGORIES = ("transparency", "disclosure", "inventory", "retention", "transfer")
SYSTEMS = (None, "crm", "webshop-src", "newsletter", "weblogs")


def _fill(store: Store, total: int) -> dict:
    rng = random.Random(3)
    trees = 1000
    per_run = max(total // (trees * 2), 1)
    start = datetime(2026, 1, 1)
    with store.connect() as con:
        for t in range(trees):
            root = f"root-{t:06d}"
            runs.create_run(con, runs.RunRow(root, root, None, None, 0, root, None, "acme", "ana@acme"))
            runs.create_run(
                con, runs.RunRow(f"{root}.checks", root, root, "checks", 1, root, "ns", "acme", "a")
            )
        con.execute(
            """INSERT INTO approvals SELECT 'a' || i, 'root-' || lpad(CAST(i % 1000 AS VARCHAR), 6, '0'),
                   'root-' || lpad(CAST(i % 1000 AS VARCHAR), 6, '0'), 'acme',
                   CASE WHEN i % 10 = 0 THEN 'reject' ELSE 'approve' END, 'dora@acme', 'dpo', NULL,
                   'privacy-policy-review', 1, repeat('0', 64), repeat('0', 64), NULL, NULL, true, '{}', NULL,
                   ?::TIMESTAMP + to_hours(i), 'asserted' FROM range(2000) t(i)""",
            [start],
        )
    inserted, started = 0, time.perf_counter()
    with store.hold():  # as in a graph invocation: one open file, one transaction per step
        inserted = _insert(store, rng, trees, per_run)
    took = time.perf_counter() - started
    return {"findings": inserted, "insert_s": round(took, 1), "findings_per_s": round(inserted / took)}


def _insert(store: Store, rng: random.Random, trees: int, per_run: int) -> int:
    inserted = 0
    for t in range(trees):
        root = f"root-{t:06d}"
        for run_id in (root, f"{root}.checks"):
            batch = [
                Finding(
                    id=f"f{n}",
                    analyser="bench",
                    code=f"bench.{rng.choice(CATEGORIES)}",
                    title="A finding",
                    severity=rng.choice(SEVERITIES),
                    category=rng.choice(CATEGORIES),
                    message="The notice does not disclose something it should.",
                    system_id=rng.choice(SYSTEMS),
                )
                for n in range(per_run)
            ]
            with store.connect() as con:
                inserted += findings.upsert_findings(
                    con, batch, run_id=run_id, root_run_id=root, step_id="s", tenant="acme"
                )
    return inserted


def _time_queries(store: Store, repeats: int) -> dict:
    out = {}
    with store.connect(read_only=True) as con:
        for name, (sql, params) in QUERIES.items():
            con.execute(sql, params).fetchall()  # warm
            times = []
            for _ in range(repeats):
                started = time.perf_counter()
                con.execute(sql, params).fetchall()
                times.append(time.perf_counter() - started)
            out[f"{name}_ms"] = round(median(times) * 1000, 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--findings", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "warden.duckdb")
        results = _fill(store, args.findings)
        print(
            f"inserted {results['findings']:,} findings in {results['insert_s']} s: "
            f"{results['findings_per_s']:,} findings/s"
        )
        results.update(_time_queries(store, args.runs))
        for key, value in results.items():
            if key.endswith("_ms"):
                print(f"{key}: {value}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
