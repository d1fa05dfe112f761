"""N writer processes appending to one ledger at once: the DuckDB file against Postgres.

    python bench/bench_ledger.py [--processes 1,2,4] [--units 40]

Each process records `--units` units of work for its own run of one tenant, each unit one
transaction as a Temporal activity writes it (a step, its finding, its step_completed event
through ``ledger.flush``, plus one event audited directly): on DuckDB every unit opens the file
and waits its turn for the lock (`Store.connect` outside a hold, as an activity of a worker
process does), on Postgres every unit is a pooled connection's transaction and the tenant's
chain lock. With `--tenant-per-process` each process writes its own tenant (its own audit chain, so no
chain lock is shared). Prints units/s over all processes (wall, from a common start line to the last
process done) and checks the chain verifies. Postgres is the server of
``warden.testing.PG_ADMIN_URL`` (a scratch database, dropped after).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from warden.store import Store
from warden.store.audit import verify_chain
from warden.testing import pg_unavailable_reason, scratch_database

WRITER = """
import sys, time
from warden.schemas.finding import Finding
from warden.store import Store, audit, ledger
path, url, run_id, tenant = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[6]
units, start_at = int(sys.argv[4]), float(sys.argv[5])
store = Store(path, url=url)
with store.connect(read_only=bool(url)) as con:
    con.execute("SELECT 1")
while time.time() < start_at:
    time.sleep(0.002)
for i in range(units):
    finding = Finding(id=f"f{i}", analyser="a", code="c", title="t", severity="low", category="x",
                      message="m")
    records = [
        ledger.step_record(run_id=run_id, step_id=f"s{i}", kind="analyser", analyser="a",
                           system_id=None, status="completed", attempts=1, started_at=ledger.stamp(),
                           finished_at=ledger.stamp(), duration_s=0.01, output={"i": i},
                           output_schema="findings"),
        ledger.findings_record([finding], run_id=run_id, root_run_id=run_id, step_id=f"s{i}",
                               tenant=tenant),
        ledger.audit_record(run_id=run_id, root_run_id=run_id, tenant=tenant, actor="w",
                            event="step_completed", payload={"i": i}, key=f"{run_id}:s{i}"),
    ]
    with store.connect() as con:
        ledger.flush(con, records)
        audit.audit(con, run_id=run_id, root_run_id=run_id, tenant=tenant, actor="w", event="cost",
                    key=f"{run_id}:c{i}")
print(time.time())
"""


def _run(path: Path, url: str, processes: int, units: int, tenants: bool) -> dict[str, float]:
    store = Store(path, url=url)
    with store.connect() as con:  # the schema, outside the timing
        con.execute("SELECT 1")
    start_at = time.time() + 2.0 + 0.3 * processes
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                WRITER,
                str(path),
                url,
                f"r{p}",
                str(units),
                str(start_at),
                _tenant(p, tenants),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for p in range(processes)
    ]
    ends = []
    for proc in procs:
        out, err = proc.communicate(timeout=1800)
        if proc.returncode != 0:
            raise SystemExit(err)
        ends.append(float(out.strip().splitlines()[-1]))
    wall = max(ends) - start_at
    with store.connect(read_only=True) as con:
        reports = [verify_chain(con, t) for t in {_tenant(p, tenants) for p in range(processes)}]
        events = con.execute("SELECT count(*) FROM audit_events").fetchone()[0]
    store.close()
    assert all(r.ok for r in reports) and events == 2 * processes * units, (reports, events)
    total = processes * units
    return {"units": total, "wall_s": round(wall, 2), "units_per_s": round(total / wall, 1)}


def _tenant(process: int, tenants: bool) -> str:
    return f"tenant{process}" if tenants else "acme"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", default="1,2,4")
    parser.add_argument("--units", type=int, default=40)
    parser.add_argument(
        "--tenant-per-process", action="store_true", help="each process its own tenant (own audit chain)"
    )
    args = parser.parse_args()
    counts = [int(n) for n in args.processes.split(",")]
    results: dict[str, dict[str, dict[str, float]]] = {"duckdb": {}, "postgres": {}}
    for n in counts:
        with tempfile.TemporaryDirectory() as tmp:
            results["duckdb"][str(n)] = _run(
                Path(tmp) / "warden.duckdb", "", n, args.units, args.tenant_per_process
            )
            print(f"duckdb file, {n} process(es): {results['duckdb'][str(n)]}", flush=True)
        reason = pg_unavailable_reason()
        if reason is not None:
            print(f"postgres skipped: {reason}")
            continue
        with tempfile.TemporaryDirectory() as tmp, scratch_database("warden_bench") as url:
            results["postgres"][str(n)] = _run(
                Path(tmp) / "warden.duckdb", url, n, args.units, args.tenant_per_process
            )
            print(f"postgres, {n} process(es): {results['postgres'][str(n)]}", flush=True)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
