"""Why a warm analysis's statements cost more than DuckDB's floor: its own statements replayed apart.

    python bench/replay_statements.py [--runs 5] [--repeat 40] [--optimizers | --levers]

Records the DuckDB statements (text and parameters, in order, BEGIN and COMMIT included) of two
warm analyses of the Acme notice (as `profile_statements.py`: auto-approved policy,
``Service.long_lived()``, two warm-ups first), with a copy of the ledger file taken before them.
Then, without Warden, LangGraph or the analysers in the process:

1. **Replay.** Each run copies the file, opens it with plain ``duckdb.connect``, replays the
   first analysis's statements untimed (to warm DuckDB's caches as in a warm process) and the
   second's timed, per statement (``time.thread_time`` and ``time.process_time``). Variants, on
   a fresh copy each: DuckDB's defaults; ``SET threads = 1``; ``SET preserve_insertion_order =
   false``; the secondary indexes (``CREATE INDEX`` of the schema) dropped; a large
   ``checkpoint_threshold``; ``PRAGMA disable_optimizer`` (how much of a statement is its
   optimiser; not a setting to ship); 200,000 more audit events of another tenant. Prints the
   median over `--runs` of each shape's total per analysis. With ``--optimizers``, only the
   replay's totals with each optimiser disabled alone (``SET disabled_optimizers``). With
   ``--levers``, only the replay's totals with its statements edited as a lever would: the
   flush's probes left out, ``settle_duration`` as an update by key, every write in one
   transaction (the statements after an edit are still the recorded ones: DuckDB's share only).
2. **Isolated statements** on a warmed copy, `--repeat` times each inside ``BEGIN`` ...
   ``ROLLBACK`` (medians): the audit insert as Warden sends it (``unnest`` of column lists) and
   as a multi-row ``VALUES``, into ``audit_events`` and into a copy of it without keys or
   indexes; the flush's probe whole and each of its ``UNION ALL`` parts alone; the chain head
   read two ways, before and after 200,000 more events; one run gate read, plain and
   ``PREPARE``d; ``settle_duration``'s
   correlated ``UPDATE`` against a read and an update by key; a ``SELECT`` of 1 and 12
   parameters; a one-row insert into tables of 2-32 columns.

The host has 2 cores shared with other work: read CPU and medians, not wall time.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from _common import ACME, auto_policy
from profile_statements import shape_of, sizes

NOTICE = ACME / "notice.md"

Trace = list[tuple[str, Any]]


def record(tmp: Path) -> tuple[Path, Trace, Trace]:
    """A copy of the ledger after two warm-ups, and the statements of the next two analyses."""
    from warden.service import Service
    from warden.store import connection

    traces: list[Trace] = []
    on = [False]

    class Cursor:
        def __init__(self, con: Any) -> None:
            self._con = con

        def execute(self, sql: str, *a: Any, **k: Any) -> Any:
            if on[0]:
                params = a[0] if a else k.get("parameters")
                traces[-1].append((sql, _copy(params)))
            return self._con.execute(sql, *a, **k)

        def __getattr__(self, name: str) -> Any:
            return getattr(self._con, name)

    real_cursor = connection.Store._held_cursor
    connection.Store._held_cursor = lambda self: Cursor(real_cursor(self))  # type: ignore[method-assign]
    svc = Service(tmp / "warm", policy=auto_policy(tmp / "auto.yaml"))
    svc.long_lived()
    ana = svc.principal("ana@acme", "asserted", writing=True)
    for _ in range(2):
        svc.start(ana, NOTICE, tenant="acme")
    svc.store.close()
    base = tmp / "base.duckdb"
    src = svc.store.path
    shutil.copy(src, base)
    if src.with_name(src.name + ".wal").exists():
        shutil.copy(src.with_name(src.name + ".wal"), base.with_name(base.name + ".wal"))
    on[0] = True
    for _ in range(2):
        traces.append([])
        assert svc.start(ana, NOTICE, tenant="acme").status == "completed"
    on[0] = False
    svc.store.close()
    connection.Store._held_cursor = real_cursor  # type: ignore[method-assign]
    return base, traces[0], traces[1]


def _copy(params: Any) -> Any:
    if isinstance(params, (list, tuple)):
        return [_copy(p) for p in params]
    return params


def _fresh(base: Path, tmp: Path, name: str) -> Any:
    import duckdb

    path = tmp / f"{name}.duckdb"
    for p in (path, path.with_name(path.name + ".wal")):
        p.unlink(missing_ok=True)
    shutil.copy(base, path)
    wal = base.with_name(base.name + ".wal")
    if wal.exists():
        shutil.copy(wal, path.with_name(path.name + ".wal"))
    return duckdb.connect(str(path))


def _secondary_indexes() -> list[str]:
    from warden.store.schema import DDL

    names = []
    for statement in DDL:
        m = re.search(r"CREATE\s+(?:UNIQUE\s+)?INDEX\s+IF\s+NOT\s+EXISTS\s+(\w+)", statement, re.I)
        if m:
            names.append(m.group(1))
    return names


_GROW = """INSERT INTO audit_events (event_key, run_id, root_run_id, tenant, "at", actor, event,
    payload_json, chain_no, prev_hash, hash)
    SELECT 'bulk' || i, 'r' || (i // 20), 'r' || (i // 20), 'other', now(), 'x', 'e', '{{}}', i, 'p', 'h'
    FROM range({n}) t(i)"""

VARIANTS: dict[str, list[str]] = {
    "defaults": [],
    "threads = 1": ["SET threads = 1"],
    "preserve_insertion_order = false": ["SET preserve_insertion_order = false"],
    "secondary indexes dropped": ["DROP INDEX IF EXISTS <each>"],
    "checkpoint_threshold = 1GB": ["SET checkpoint_threshold = '1GB'"],
    "optimizer disabled": ["PRAGMA disable_optimizer"],
    "+200k audit events (another tenant)": [_GROW.format(n=200_000), "CHECKPOINT"],
}


def replay(base: Path, tmp: Path, warm: Trace, timed: Trace, variant: str) -> dict[str, list[float]]:
    con = _fresh(base, tmp, "replay")
    for setting in VARIANTS[variant]:
        if "<each>" in setting:
            for name in _secondary_indexes():
                con.execute(setting.replace("<each>", name))
        else:
            con.execute(setting)
    for sql, params in warm:
        con.execute(sql, params) if params is not None else con.execute(sql)
        con.fetchall() if con.description else None
    out: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0])  # type: ignore[arg-type, return-value]
    for sql, params in timed:
        t0, p0 = time.thread_time(), time.process_time()
        con.execute(sql, params) if params is not None else con.execute(sql)
        if con.description:
            con.fetchall()
        s = out[shape_of(sql)]
        s[0] += time.thread_time() - t0
        s[1] += time.process_time() - p0
        s[2] += 1
    con.close()
    return out


def isolated(base: Path, tmp: Path, warm: Trace, timed: Trace, repeat: int) -> list[tuple[str, float, float]]:
    con = _fresh(base, tmp, "isolated")
    for sql, params in warm:
        con.execute(sql, params) if params is not None else con.execute(sql)
    con.execute("CREATE TABLE audit_bare AS SELECT * FROM audit_events LIMIT 0")

    def med(sql: str, params: Any) -> tuple[float, float]:
        thr, proc = [], []
        for _ in range(repeat):
            con.execute("BEGIN")
            t0, p0 = time.thread_time(), time.process_time()
            con.execute(sql, params) if params is not None else con.execute(sql)
            if con.description:
                con.fetchall()
            thr.append(time.thread_time() - t0)
            proc.append(time.process_time() - p0)
            con.execute("ROLLBACK")
        return 1000 * statistics.median(thr), 1000 * statistics.median(proc)

    rows: list[tuple[str, float, float]] = []
    audit = next((s, p) for s, p in timed if shape_of(s).startswith("INSERT INTO audit_events (unnest)"))
    sql, lists = audit
    n = len(lists[0])
    rows.append((f"audit insert, unnest of {n} rows, {sizes(lists)[1]} bytes (as sent)", *med(sql, lists)))
    cols = re.search(r"\(([^)]*)\)\s*SELECT", sql).group(1)  # type: ignore[union-attr]
    ncol = len(lists)
    values = ", ".join(["(" + ", ".join(["?"] * ncol) + ")"] * n)
    flat = [lists[c][r] for r in range(n) for c in range(ncol)]
    values_sql = f"INSERT INTO audit_events ({cols}) VALUES {values}"
    rows.append((f"audit insert, VALUES of {n} rows", *med(values_sql, flat)))
    rows.append(
        (
            f"audit insert, unnest of {n} rows, table without keys/indexes",
            *med(sql.replace("INTO audit_events", "INTO audit_bare"), lists),
        )
    )
    rows.append(
        (
            f"audit insert, VALUES of {n} rows, table without keys/indexes",
            *med(values_sql.replace("INTO audit_events", "INTO audit_bare"), flat),
        )
    )
    one_sql = f"INSERT INTO audit_events ({cols}) VALUES (" + ", ".join(["?"] * ncol) + ")"
    rows.append(("audit insert, VALUES of 1 row", *med(one_sql, flat[:ncol])))
    for s, p in timed:
        if shape_of(s).startswith("INSERT INTO steps (unnest)"):
            label = f"steps insert, unnest of {len(p[0])} rows, {sizes(p)[1]} bytes (as sent)"
            rows.append((label, *med(s, p)))
            break
    for s, p in timed:
        if shape_of(s).startswith("INSERT INTO findings (unnest)"):
            rows.append((f"findings insert, unnest of {len(p[0])} rows (as sent)", *med(s, p)))
            break
    probe = max(
        ((s, p) for s, p in timed if "UNION ALL" in s and "FROM steps" in s),
        key=lambda sp: sp[0].count("UNION ALL"),
    )
    sql, params = probe
    rows.append((f"flush probe, whole ({sql.count('UNION ALL') + 1} parts)", *med(sql, params)))
    parts = sql.split(" UNION ALL ")
    at = 0
    for part in parts:
        k = part.count("?")
        kind = re.search(r"SELECT '(\w)'", part)
        label = {"s": "steps keys", "f": "findings keys", "e": "event keys", "h": "chain head"}.get(
            kind.group(1) if kind else "?", "?"
        )
        rows.append((f"flush probe part alone: {label} ({k} params)", *med(part, params[at : at + k])))
        at += k
    rows.append(("SELECT ? (floor)", *med("SELECT ?", [1])))
    for s, p in timed:
        if shape_of(s).startswith("SELECT ... FROM runbook_versions, steps"):
            rows.append(("run gate read (runbook_versions, steps, cost_ledger, runs)", *med(s, p)))
            con.execute(f"PREPARE gate AS {s}")
            literals = ", ".join("'" + str(v).replace("'", "''") + "'" for v in p)
            rows.append(
                (
                    "  the same, PREPAREd once, then EXECUTE gate(literals)",
                    *med(f"EXECUTE gate({literals})", None),
                )
            )
            break
    for grown in (0, 200_000):
        if grown:
            con.execute(_GROW.format(n=grown))
            con.execute("CHECKPOINT")
        tag = f" (+{grown // 1000}k events of another tenant)" if grown else ""
        rows.append((f"chain head, ORDER BY chain_no DESC LIMIT 1{tag}", *med(_HEAD, [_TENANT])))
        rows.append((f"chain head via max(chain_no) and a key lookup{tag}", *med(_HEAD_MAX, [_TENANT] * 2)))
    settle = next((s, p) for s, p in timed if s.lstrip().startswith("UPDATE runs SET duration_s"))
    rows.append(("settle_duration: UPDATE runs with correlated sum (as sent)", *med(*settle)))
    rows.append(("  the same as a sum read, then UPDATE by key: the read", *med(_SUM, settle[1])))
    rows.append(
        (
            "  the same: the UPDATE by key",
            *med("UPDATE runs SET duration_s = ? WHERE run_id = ?", [1.0, *settle[1]]),
        )
    )
    for count in (1, 12):
        marks = ", ".join(["?"] * count)
        rows.append((f"SELECT of {count} parameters", *med(f"SELECT {marks}", ["x" * 40] * count)))
    for width in (2, 8, 16, 32):
        cols = ", ".join(f"c{i} VARCHAR" for i in range(width))
        con.execute(f"CREATE TABLE w{width} (k VARCHAR PRIMARY KEY, {cols})")
        marks = ", ".join(["?"] * (width + 1))
        rows.append(
            (
                f"INSERT of 1 row, {width} VARCHAR columns + key",
                *med(f"INSERT INTO w{width} VALUES ({marks})", ["k"] + ["x" * 40] * width),
            )
        )
    con.close()
    return rows


_TENANT = "acme"
_HEAD = """SELECT chain_no, hash FROM audit_events
    WHERE tenant = ? AND chain_no IS NOT NULL ORDER BY chain_no DESC LIMIT 1"""
_HEAD_MAX = """SELECT chain_no, hash FROM audit_events WHERE tenant = ? AND chain_no =
    (SELECT max(chain_no) FROM audit_events WHERE tenant = ?)"""
_SUM = "SELECT coalesce(sum(duration_s), 0) FROM steps WHERE run_id = ? AND kind = 'analyser'"


OPTIMISERS = [
    "expression_rewriter",
    "filter_pullup",
    "filter_pushdown",
    "empty_result_pullup",
    "cte_filter_pusher",
    "regex_range",
    "in_clause",
    "join_order",
    "deliminator",
    "unnest_rewriter",
    "unused_columns",
    "statistics_propagation",
    "common_subexpressions",
    "common_aggregate",
    "column_lifetime",
    "build_side_probe_side",
    "limit_pushdown",
    "top_n",
    "compressed_materialization",
    "duplicate_groups",
    "reorder_filter",
    "sampling_pushdown",
    "join_filter_pushdown",
    "materialized_cte",
    "late_materialization",
    "cte_inlining",
    "row_group_pruner",
    "common_subplan",
]


def optimisers(runs: int) -> None:
    """The replay's total CPU with each optimiser disabled alone (alternated, medians of `runs`)."""
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        base, warm, timed = record(tmp)
        labels = ["defaults", "optimizer disabled", *OPTIMISERS]
        for name in OPTIMISERS:
            VARIANTS[name] = [f"SET disabled_optimizers = '{name}'"]
        totals: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for _ in range(runs):
            for label in labels:
                r = replay(base, tmp, warm, timed, label)
                totals[label].append((sum(x[0] for x in r.values()), sum(x[1] for x in r.values())))
        print(f"replay of one analysis, total ms CPU, median of {runs} (thread / process):")
        for label in labels:
            thr = 1000 * statistics.median(t for t, _ in totals[label])
            proc = 1000 * statistics.median(p for _, p in totals[label])
            print(f"{label:<32} {thr:7.2f} {proc:7.2f}")


_PROBE = re.compile(r"^\s*SELECT '[sfeh]'")


def _no_probes(trace: Trace) -> Trace:
    return [(q, p) for q, p in trace if not _PROBE.match(q)]


def _settle_by_key(trace: Trace) -> Trace:
    return [
        ("UPDATE runs SET duration_s = ? WHERE run_id = ?", [0.0, *p])
        if q.lstrip().startswith("UPDATE runs SET duration_s")
        else (q, p)
        for q, p in trace
    ]


def _one_transaction(trace: Trace) -> Trace:
    inner = [(q, p) for q, p in trace if q.strip().upper() not in ("BEGIN TRANSACTION", "BEGIN", "COMMIT")]
    return [("BEGIN TRANSACTION", None), *inner, ("COMMIT", None)]


LEVERS = {
    "as recorded": lambda t: t,
    "without the flush's probes": _no_probes,
    "settle_duration as an UPDATE by key": _settle_by_key,
    "all in one transaction": _one_transaction,
    "the three together": lambda t: _one_transaction(_settle_by_key(_no_probes(t))),
}


def levers(runs: int) -> None:
    """The replay's totals with the timed analysis's statements edited as a lever would edit them."""
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        base, warm, timed = record(tmp)
        totals: dict[str, list[tuple[float, float, int]]] = defaultdict(list)
        for _ in range(runs):
            for label, edit in LEVERS.items():
                trace = edit(timed)
                r = replay(base, tmp, warm, trace, "defaults")
                totals[label].append(
                    (sum(x[0] for x in r.values()), sum(x[1] for x in r.values()), len(trace))
                )
        print(
            f"replay of one analysis, edited, total ms CPU, median of {runs} (statements, thread, process):"
        )
        for label in LEVERS:
            thr = 1000 * statistics.median(t for t, _, _ in totals[label])
            proc = 1000 * statistics.median(p for _, p, _ in totals[label])
            print(f"{label:<40} {totals[label][0][2]:4d} {thr:7.2f} {proc:7.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument(
        "--optimizers",
        action="store_true",
        help="instead: the replay with each DuckDB optimiser disabled alone",
    )
    parser.add_argument(
        "--levers", action="store_true", help="instead: the replay edited as some levers would edit it"
    )
    args = parser.parse_args()
    if args.levers:
        levers(args.runs)
        return
    if args.optimizers:
        optimisers(args.runs)
        return
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        base, warm, timed = record(tmp)
        print(f"recorded {len(warm)} and {len(timed)} statements")
        results: dict[str, list[dict[str, list[float]]]] = defaultdict(list)
        for _ in range(args.runs):  # variants alternated within each run
            for variant in VARIANTS:
                results[variant].append(replay(base, tmp, warm, timed, variant))
        shapes = sorted(
            {s for r in results["defaults"] for s in r},
            key=lambda s: -statistics.median(r[s][0] for r in results["defaults"]),
        )
        names = list(VARIANTS)
        print("\nreplay of one analysis's statements, ms thread CPU per analysis (median of runs);")
        print("columns: " + " | ".join(names))
        for shape in shapes:
            calls = results["defaults"][0][shape][2]
            cells = [f"{1000 * statistics.median(r[shape][0] for r in results[v]):7.2f}" for v in names]
            print(f"{shape[:58]:<58} {calls:3d} " + " ".join(cells))
        for label, idx in (("total, thread CPU", 0), ("total, process CPU", 1)):
            cells = [
                f"{1000 * statistics.median(sum(x[idx] for x in r.values()) for r in results[v]):7.2f}"
                for v in names
            ]
            print(f"{label:<62} " + " ".join(cells))
        print(
            f"\nisolated statements, BEGIN ... ROLLBACK, median of {args.repeat} (ms thread / process CPU):"
        )
        for label, thr, proc in isolated(base, tmp, warm, timed, args.repeat):
            print(f"{label:<70} {thr:6.2f} {proc:6.2f}")


if __name__ == "__main__":
    main()
