"""Scan cost of personal_data_scan on large systems: wall time and peak memory per scan.

    python bench/bench_scan.py [--rows 1000000] [--runs 5] [--sample-size 1000]

Builds, in a temporary folder, a SQLite table, a CSV file and a Parquet file of ``--rows``
rows with realistic personal-data columns (names, e-mail, phone, date of birth, IBAN, card,
IP, city, diagnosis, free-text notes), plus a 10,000-row SQLite table for comparison. Each
system is then scanned ``--runs`` times in a fresh process, so its peak RSS (``VmHWM``,
else ``resource.getrusage().ru_maxrss``) belongs to the scan alone (the data is built in
another process too); a further untimed run under
``tracemalloc`` gives the peak of Python allocations. Prints the median wall and CPU time, the peak
RSS, the RSS of a process that only imported the analyser (the baseline), and the tracemalloc
peak. Because the scanner samples (``LIMIT``, first lines), the figures should not grow with
the number of rows.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

from stdnum import iban, luhn

COLUMNS = [
    "id",
    "first_name",
    "last_name",
    "email",
    "phone",
    "dob",
    "iban",
    "card",
    "ip",
    "city",
    "diagnosis",
    "notes",
]
_FIRST = ["Jane", "John", "Amara", "Luca", "Sofia", "Mateo", "Aiko", "Noah", "Freya", "Omar", "Ines", "Tariq"]
_LAST = ["Roe", "Okafor", "Rossi", "Schmidt", "Dubois", "Nakamura", "Silva", "Novak", "Byrne", "Haddad"]
_CITIES = ["London", "Berlin", "Paris", "Madrid", "Rome", "Dublin", "Lisbon", "Vienna", "Oslo"]
_DIAGNOSES = ["Asthma", "Diabetes", "Hypertension", "Migraine", "Depression", "None"]


def _pools(rng: random.Random, size: int = 2000) -> dict[str, list[str]]:
    """Valid values (checksums computed, not faked) to draw rows from."""

    def phone() -> str:
        return f"+44 20 7946 {rng.randrange(10000):04d}"

    def ibans() -> str:
        bban = f"37040044{rng.randrange(10**10):010d}"
        return f"DE{iban.calc_check_digits('DE00' + bban)}{bban}"

    def card() -> str:
        body = f"4{rng.randrange(10**14):014d}"
        return body + luhn.calc_check_digit(body)

    return {
        "phone": [phone() for _ in range(size)],
        "iban": [ibans() for _ in range(size)],
        "card": [card() for _ in range(size)],
    }


def _rows(n: int, seed: int = 7) -> Iterator[tuple[object, ...]]:
    rng = random.Random(seed)
    pools = _pools(rng)
    for i in range(n):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        k = rng.randrange(2000)
        yield (
            i,
            first,
            last,
            f"{first.lower()}.{last.lower()}{i}@example.org",
            pools["phone"][k],
            f"{rng.randrange(1940, 2006)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}",
            pools["iban"][k],
            pools["card"][k],
            f"203.0.{rng.randrange(256)}.{rng.randrange(1, 255)}",
            rng.choice(_CITIES),
            rng.choice(_DIAGNOSES),
            f"Order {i} shipped; customer asked about delivery on day {rng.randrange(1, 29)}",
        )


def build(folder: Path, rows: int) -> dict[str, tuple[str, Path]]:
    """The systems to scan: name -> (type, path)."""
    folder.mkdir(parents=True, exist_ok=True)
    systems: dict[str, tuple[str, Path]] = {}
    for label, n in [("sqlite-10k", 10_000), (f"sqlite-{rows:,}", rows)]:
        path = folder / f"{label}.sqlite"
        con = sqlite3.connect(path)
        con.execute(f"CREATE TABLE customers ({', '.join(COLUMNS)})")
        insert = f"INSERT INTO customers VALUES ({', '.join('?' * len(COLUMNS))})"
        batch: list[tuple[object, ...]] = []
        for row in _rows(n):
            batch.append(row)
            if len(batch) == 50_000:
                con.executemany(insert, batch)
                batch.clear()
        con.executemany(insert, batch)
        con.commit()
        con.close()
        systems[label] = ("sqlite", path)
    csv_path = folder / "customers.csv"
    with csv_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        writer.writerows(_rows(rows))
    systems[f"csv-{rows:,}"] = ("csv", csv_path)
    import duckdb

    parquet_path = folder / "customers.parquet"
    con = duckdb.connect()
    con.execute(
        "COPY (SELECT * FROM read_csv(?, all_varchar = true, header = true)) TO '"
        + str(parquet_path).replace("'", "''")
        + "' (FORMAT parquet)",
        [str(csv_path)],
    )
    con.close()
    systems[f"parquet-{rows:,}"] = ("parquet", parquet_path)
    return systems


def _context(system_type: str, path: Path):  # type: ignore[no-untyped-def]
    from warden.analyser import AnalyserContext
    from warden.schemas.policy import System

    system = System(id="bench", type=system_type, location=str(path), owner="bench")  # type: ignore[arg-type]
    return AnalyserContext(
        tenant="bench",
        run_id="bench",
        step_id="scan",
        system_id="bench",
        systems=(system,),
        base_dir=path.parent,
        allowed_roots=(path.parent,),
    )


def child(system_type: str, path: Path, runs: int, sample_size: int) -> dict[str, object]:
    """Scan in this process `runs` times; then once more under tracemalloc (untimed)."""
    from warden_analysers.personal_data_scan.analyser import run

    ctx = _context(system_type, path) if system_type != "none" else None
    times, cpu, categories = [], [], 0
    for _ in range(runs if ctx else 0):
        start, start_cpu = time.perf_counter(), time.process_time()
        out = run({}, {"sample_size": sample_size}, ctx)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
        categories = len(out["categories"])
    rss_kb = _peak_rss_kb()
    traced = 0
    if ctx:
        tracemalloc.start()
        run({}, {"sample_size": sample_size}, ctx)
        traced = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return {"times": times, "cpu": cpu, "rss_kb": rss_kb, "traced_bytes": traced, "categories": categories}


def _peak_rss_kb() -> int:
    """This process's peak resident set, in KiB.

    ``VmHWM`` where Linux has it: ``ru_maxrss`` of a child started by vfork (as subprocess does)
    also counts its parent's peak from before the exec, so it would not measure the scan.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _spawn(*args: str) -> dict[str, object]:
    """Run this script with `args` in a fresh process; its last stdout line is JSON.

    The parent stays small (it builds nothing itself): Linux carries a parent's peak RSS into
    a forked child's ``ru_maxrss``, which would hide the scan's own peak.
    """
    done = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sample-size", type=int, default=1000)
    parser.add_argument(
        "--child", nargs=4, metavar=("TYPE", "PATH", "RUNS", "SAMPLE"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        system_type, path, runs, sample = args.child
        print(json.dumps(child(system_type, Path(path), int(runs), int(sample))))
        return
    with tempfile.TemporaryDirectory(prefix="bench-scan-") as tmp:
        start = time.perf_counter()
        systems = build(Path(tmp), args.rows)
        sizes = {name: path.stat().st_size for name, (_, path) in systems.items()}
        print(f"built {len(systems)} systems in {time.perf_counter() - start:.1f}s")
        base = _spawn("--child", "none", tmp, "0", str(args.sample_size))
        print(f"baseline RSS (imports only): {int(base['rss_kb']) / 1024:.0f} MiB")
        header = f"{'system':<20}{'file MiB':>9}{'median s':>9}{'min s':>7}{'max s':>7}{'cpu s':>7}"
        print(header + f"{'RSS MiB':>9}{'py peak MiB':>12}")
        for name, (system_type, path) in systems.items():
            got = _spawn("--child", system_type, str(path), str(args.runs), str(args.sample_size))
            times, cpu = got["times"], got["cpu"]
            assert isinstance(times, list) and isinstance(cpu, list)
            rss, traced = int(got["rss_kb"]) / 1024, int(got["traced_bytes"]) / 2**20
            print(
                f"{name:<20}{sizes[name] / 2**20:>9.1f}{statistics.median(times):>9.3f}{min(times):>7.3f}"
                f"{max(times):>7.3f}{statistics.median(cpu):>7.3f}{rss:>9.0f}{traced:>12.1f}"
                f"   ({got['categories']} categories)"
            )


if __name__ == "__main__":
    main()
