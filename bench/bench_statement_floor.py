"""What a statement costs DuckDB itself, apart from Warden: the floor under the ~2.7 ms per
statement that `profile_orchestration.py` charges a warm analysis's statements.

    python bench/bench_statement_floor.py [--statements 200] [--runs 5]

A fresh file with one two-column table with a primary key; each kind of statement is run
`--statements` times per run, `--runs` runs each on a new file; prints the median CPU
milliseconds per statement and every run's figure.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _one_run(statements: int) -> dict[str, float]:
    import duckdb

    with tempfile.TemporaryDirectory() as tmp:
        con: Any = duckdb.connect(str(Path(tmp) / "floor.duckdb"))
        con.execute("CREATE TABLE t (k VARCHAR PRIMARY KEY, v VARCHAR)")
        out: dict[str, float] = {}

        def timed(label: str, fn: Callable[[int], object]) -> None:
            started = time.process_time()
            for i in range(statements):
                fn(i)
            out[label] = 1000 * (time.process_time() - started) / statements

        def committed(i: int) -> None:
            con.execute("BEGIN")
            con.execute("INSERT INTO t VALUES (?, ?)", [f"c{i}", "x"])
            con.execute("COMMIT")

        timed("SELECT ?", lambda i: con.execute("SELECT ?", [i]).fetchone())
        con.execute("BEGIN")
        timed(
            "INSERT of one row inside a transaction",
            lambda i: con.execute("INSERT INTO t VALUES (?, ?)", [f"a{i}", "x"]),
        )
        timed(
            "UPDATE by key inside a transaction",
            lambda i: con.execute("UPDATE t SET v = ? WHERE k = ?", ["y", f"a{i}"]),
        )
        con.execute("COMMIT")
        timed("empty BEGIN + COMMIT", lambda i: (con.execute("BEGIN"), con.execute("COMMIT")))
        timed("BEGIN + one INSERT + COMMIT", committed)
        con.close()
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--statements", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    runs = [_one_run(args.statements) for _ in range(args.runs)]
    for label in runs[0]:
        values = [r[label] for r in runs]
        shown = ", ".join(f"{v:.2f}" for v in values)
        print(f"{label:<42} median {statistics.median(values):.2f} ms CPU  ({shown})")


if __name__ == "__main__":
    main()
