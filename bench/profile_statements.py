"""Which DuckDB statements of a warm analysis cost what: every statement timed, by shape and caller.

    python bench/profile_statements.py [--runs 20] [--top 25]

Runs the Acme notice as `profile_orchestration.py` does (auto-approved policy,
``Service.long_lived()``, two warm-up analyses, then `--runs` timed ones) and replaces
``Store._held_cursor`` with a cursor whose ``execute`` (and the fetches after it) are timed.
Each statement is charged to a shape (its first words and table, e.g. ``INSERT INTO passages
(unnest)``, ``SELECT ... FROM audit_events``, ``COMMIT``) and to its caller (the nearest frame
under ``src/warden`` outside ``store/connection.py`` and ``store/_util.py``).

Per shape and caller it prints calls per analysis, the median CPU ms per call of the calling
thread (``time.thread_time``) and of the whole process (``time.process_time``: DuckDB's worker
threads too, and anything else running then), the total per analysis of both, and the median
rows (the length of ``insert_rows``' unnest lists) and parameter bytes per call. Fetches are
charged to their statement's shape as a separate "fetch" figure. Each write transaction's
statements are summed apart from its ``COMMIT``.

The host has 2 cores shared with other work: read CPU and medians, not wall time.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import ACME, auto_policy

NOTICE = ACME / "notice.md"
_SKIP = ("store/connection.py", "store/_util.py")


@dataclass
class Shape:
    thread: list[float] = field(default_factory=list)
    process: list[float] = field(default_factory=list)
    fetch: float = 0.0
    rows: list[int] = field(default_factory=list)
    nbytes: list[int] = field(default_factory=list)


def shape_of(sql: str) -> str:
    """First words and table(s) of a statement, literals and columns dropped."""
    text = " ".join(sql.split())
    upper = text.upper()
    first = upper.split(" ", 1)[0]
    if first in ("BEGIN", "COMMIT", "ROLLBACK", "CHECKPOINT"):
        return first
    if first == "INSERT":
        m = re.match(r"INSERT\s+(?:OR\s+\w+\s+)?INTO\s+(\w+)", text, re.I)
        name = f"INSERT INTO {m.group(1) if m else '?'}"
        if "UNNEST(" in upper:
            name += " (unnest)"
        if "ON CONFLICT" in upper:
            name += " ON CONFLICT" + (" DO UPDATE" if "DO UPDATE" in upper else " DO NOTHING")
        return name
    if first == "UPDATE":
        m = re.match(r"UPDATE\s+(\w+)", text, re.I)
        return f"UPDATE {m.group(1) if m else '?'}"
    if first == "DELETE":
        m = re.match(r"DELETE\s+FROM\s+(\w+)", text, re.I)
        return f"DELETE FROM {m.group(1) if m else '?'}"
    tables = []
    for t in re.findall(r"\b(?:FROM|JOIN)\s+(\w+)", text, re.I):
        if t.lower() not in ("unnest", "values", "range") and t not in tables:
            tables.append(t)
    union = f" UNION ALL x{upper.count('UNION ALL') + 1}" if "UNION ALL" in upper else ""
    return f"{first} ... FROM {', '.join(tables) or '-'}{union}"


def caller() -> str:
    frame = sys._getframe(2)
    while frame is not None:
        path = frame.f_code.co_filename.replace("\\", "/")
        if "/warden/" in path and not path.endswith(_SKIP) and "/bench/" not in path:
            short = path.split("/warden/", 1)[1]
            return f"{short}:{frame.f_code.co_name}"
        frame = frame.f_back  # type: ignore[assignment]
    return "?"


def sizes(params: Any) -> tuple[int, int]:
    """(rows of an unnest insert: the longest list parameter; bytes of the parameters' text)."""
    if not params:
        return 0, 0
    rows = 0
    nbytes = 0

    def walk(v: Any) -> None:
        nonlocal nbytes
        if isinstance(v, (list, tuple)):
            for x in v:
                walk(x)
        elif isinstance(v, (str, bytes)):
            nbytes += len(v)
        elif v is not None:
            nbytes += 8

    for p in params if isinstance(params, (list, tuple)) else [params]:
        if isinstance(p, list):
            rows = max(rows, len(p))
        walk(p)
    return rows, nbytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()

    from warden.service import Service
    from warden.store import connection

    by: dict[tuple[str, str], Shape] = defaultdict(Shape)
    on = [False]
    tx: dict[str, list[float]] = defaultdict(list)  # per transaction: statements vs commit
    pending = [0.0, 0.0, 0]  # thread CPU, process CPU, statements since BEGIN

    class Cursor:
        def __init__(self, con: Any) -> None:
            self._con = con
            self._last: Shape | None = None

        def execute(self, sql: str, *a: Any, **k: Any) -> Any:
            if not on[0]:
                self._con.execute(sql, *a, **k)
                return self
            key = (shape_of(sql), caller())
            params = a[0] if a else k.get("parameters")
            rows, nbytes = sizes(params)
            t0, p0 = time.thread_time(), time.process_time()
            try:
                self._con.execute(sql, *a, **k)
            finally:
                dt, dp = time.thread_time() - t0, time.process_time() - p0
                s = by[key]
                s.thread.append(dt)
                s.process.append(dp)
                s.rows.append(rows)
                s.nbytes.append(nbytes)
                self._last = s
                if key[0] == "BEGIN":
                    pending[:] = [0.0, 0.0, 0]
                elif key[0] == "COMMIT":
                    tx["statements"].append(pending[0])
                    tx["statements (process)"].append(pending[1])
                    tx["count"].append(pending[2])
                    tx["commit"].append(dt)
                    tx["commit (process)"].append(dp)
                else:
                    pending[0] += dt
                    pending[1] += dp
                    pending[2] += 1
            return self

        def _fetch(self, name: str, *a: Any) -> Any:
            t0 = time.thread_time()
            try:
                return getattr(self._con, name)(*a)
            finally:
                if on[0] and self._last is not None:
                    self._last.fetch += time.thread_time() - t0

        def fetchone(self) -> Any:
            return self._fetch("fetchone")

        def fetchall(self) -> Any:
            return self._fetch("fetchall")

        def fetchmany(self, *a: Any) -> Any:
            return self._fetch("fetchmany", *a)

        def __iter__(self) -> Any:
            return iter(self.fetchall())

        def __getattr__(self, name: str) -> Any:
            return getattr(self._con, name)

    real_cursor = connection.Store._held_cursor
    connection.Store._held_cursor = lambda self: Cursor(real_cursor(self))  # type: ignore[method-assign]

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        svc = Service(tmp / "warm", policy=auto_policy(tmp / "auto.yaml"))
        if hasattr(svc, "long_lived"):
            svc.long_lived()
        ana = svc.principal("ana@acme", "asserted", writing=True)
        for _ in range(2):
            svc.start(ana, NOTICE, tenant="acme")
        on[0] = True
        cpu0 = time.process_time()
        for _ in range(args.runs):
            assert svc.start(ana, NOTICE, tenant="acme").status == "completed"
        total = time.process_time() - cpu0
        on[0] = False

    n = args.runs
    all_thread = sum(sum(s.thread) for s in by.values())
    all_process = sum(sum(s.process) for s in by.values())
    calls = sum(len(s.thread) for s in by.values())
    print(f"{n} warm analyses; whole analysis {1000 * total / n:.1f} ms process CPU")
    print(
        f"statements: {calls / n:.1f} per analysis, {1000 * all_thread / n:.1f} ms thread CPU,"
        f" {1000 * all_process / n:.1f} ms process CPU per analysis"
    )
    print()
    rows = sorted(by.items(), key=lambda kv: -sum(kv[1].thread))
    head = (
        f"{'shape':<52} {'caller':<40} {'/an':>5} {'med thr':>8} {'med proc':>8} "
        f"{'ms thr/an':>9} {'ms proc/an':>10} {'share':>6} {'fetch':>6} {'rows':>5} {'bytes':>7}"
    )
    print(head)
    for (shape, who), s in rows[: args.top]:
        tot = sum(s.thread)
        print(
            f"{shape[:52]:<52} {who[-40:]:<40} {len(s.thread) / n:5.1f} "
            f"{1000 * statistics.median(s.thread):8.2f} {1000 * statistics.median(s.process):8.2f} "
            f"{1000 * tot / n:9.2f} {1000 * sum(s.process) / n:10.2f} {100 * tot / all_thread:5.1f}% "
            f"{1000 * s.fetch / n:6.2f} {statistics.median(s.rows):5.0f} {statistics.median(s.nbytes):7.0f}"
        )
    print()
    print("by shape (callers merged):")
    merged: dict[str, Shape] = defaultdict(Shape)
    for (shape, _who), s in by.items():
        m = merged[shape]
        m.thread += s.thread
        m.process += s.process
        m.fetch += s.fetch
    for shape, s in sorted(merged.items(), key=lambda kv: -sum(kv[1].thread)):
        tot = sum(s.thread)
        print(
            f"{shape[:60]:<60} {len(s.thread) / n:5.1f}/an  median {1000 * statistics.median(s.thread):6.2f}"
            f" thr {1000 * statistics.median(s.process):6.2f} proc ms  {1000 * tot / n:7.2f} ms/an"
            f"  {100 * tot / all_thread:5.1f}%"
        )
    if tx["commit"]:
        print()
        print(f"write transactions: {len(tx['commit']) / n:.1f} per analysis")
        before, before_p = 1000 * sum(tx["statements"]) / n, 1000 * sum(tx["statements (process)"]) / n
        commit, commit_p = 1000 * sum(tx["commit"]) / n, 1000 * sum(tx["commit (process)"]) / n
        print(
            f"  statements before COMMIT: median {statistics.median(tx['count']):.0f} per transaction,"
            f" {before:.1f} ms thread / {before_p:.1f} ms process CPU per analysis"
        )
        print(
            f"  COMMIT: median {1000 * statistics.median(tx['commit']):.2f} ms thread /"
            f" {1000 * statistics.median(tx['commit (process)']):.2f} ms process CPU,"
            f" {commit:.1f} / {commit_p:.1f} ms per analysis"
        )


if __name__ == "__main__":
    main()
