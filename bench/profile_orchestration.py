"""Where a warm analysis's CPU goes, by part: what `bench_analysis.py` counts as orchestration.

    python bench/profile_orchestration.py [--runs 20]

Runs the Acme notice `--runs` times in one warm process (as `bench_analysis.py --only
in_process`, with the same ``Service.long_lived()`` setting when the Warden has it) and prints
CPU milliseconds per analysis for each part, measured by wrapping functions (any thread's own
CPU, ``time.thread_time``; the DuckDB open and close as the whole process's CPU, nothing else
runs then):

- the analysers' own calls (their worker threads: the bench's denominator);
- opening and closing the DuckDB file (once per analysis);
- DuckDB statements run by Warden's code (the calling thread's CPU; a statement's share done
  by DuckDB's own worker threads is in "not attributed");
- LangGraph's checkpoint writes (``SqliteSaver.put``/``put_writes``, in LangGraph's threads);
- the graph nodes' Python, less their statements; LangGraph's own superstep work in the
  calling thread; the request's checks and record (``submit``) less its statements;
- not attributed: the rest of the process's CPU (DuckDB's worker threads, the garbage
  collector, thread hand-offs).

Wrapping costs a little CPU per call, so the parts add up to slightly more than an
unwrapped run; read them as proportions next to `bench_analysis.py`'s figures.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import ACME, auto_policy

NOTICE = ACME / "notice.md"


class _Parts:
    def __init__(self) -> None:
        self.cpu: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._local = threading.local()

    @property
    def inner(self) -> float:
        """CPU charged by wrapped calls inside the current one, in this thread."""
        return float(getattr(self._local, "inner", 0.0))

    @inner.setter
    def inner(self, value: float) -> None:
        self._local.inner = value

    def stack(self) -> list[str]:
        if not hasattr(self._local, "stack"):
            self._local.stack = []
        return self._local.stack  # type: ignore[no-any-return]

    def wrap(self, owner: Any, attr: str, part: str, clock: Callable[[], float] = time.thread_time) -> None:
        """Charge calls of owner.attr to `part`, less what wrapped calls inside them charge to
        their own parts (a node's statements go to "DuckDB statements", not to the node)."""
        real = getattr(owner, attr)
        parts = self

        def timed(*args: Any, **kwargs: Any) -> Any:
            stack = parts.stack()
            if stack and stack[-1] == part:  # a wrapper calling its own super(): counted once
                return real(*args, **kwargs)
            stack.append(part)
            inner = parts.inner
            parts.inner = 0.0
            started = clock()
            try:
                return real(*args, **kwargs)
            finally:
                took = clock() - started
                stack.pop()
                parts.cpu[part] += took - parts.inner
                parts.calls[part] += 1
                parts.inner = inner + took

        setattr(owner, attr, timed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()

    from langgraph.checkpoint.sqlite import SqliteSaver
    from langgraph.graph.state import CompiledStateGraph

    import warden.graph.nodes as nodes
    from warden.catalogue import Catalogue
    from warden.graph.engine import EmbeddedEngine
    from warden.service import Service
    from warden.service.starting import StartingOps
    from warden.store import connection

    parts = _Parts()
    real_load = Catalogue.load

    def load(self: Catalogue, name: str) -> Any:
        fn = real_load(self, name)

        def analyser(*a: Any, **k: Any) -> Any:
            started = time.thread_time()
            try:
                return fn(*a, **k)
            finally:
                parts.cpu["analysers' own calls"] += time.thread_time() - started

        return analyser

    Catalogue.load = load  # type: ignore[method-assign]

    class Cursor:
        """A held connection's cursor whose statements are charged to "statements"."""

        def __init__(self, con: Any) -> None:
            self._con = con

        def execute(self, sql: str, *a: Any, **k: Any) -> Any:
            started = time.thread_time()
            try:
                return self._con.execute(sql, *a, **k)
            finally:
                took = time.thread_time() - started
                parts.cpu["DuckDB statements"] += took
                parts.calls["DuckDB statements"] += 1
                parts.inner += took

        def __getattr__(self, name: str) -> Any:
            return getattr(self._con, name)

    real_cursor = connection.Store._held_cursor
    connection.Store._held_cursor = lambda self: Cursor(real_cursor(self))  # type: ignore[method-assign]
    parts.wrap(connection.Store, "_open", "DuckDB open", time.process_time)
    closing = "_close_anchor" if hasattr(connection.Store, "_close_anchor") else "release"
    parts.wrap(connection.Store, closing, "DuckDB close (checkpoints its WAL)", time.process_time)
    parts.wrap(SqliteSaver, "put", "LangGraph checkpoint writes")
    parts.wrap(SqliteSaver, "put_writes", "LangGraph checkpoint writes")
    parts.wrap(StartingOps, "submit", "request checks and record (Python)")
    parts.wrap(EmbeddedEngine, "drive", "engine: lease, settle (Python)")
    parts.wrap(CompiledStateGraph, "invoke", "LangGraph supersteps (calling thread)")
    for name in ("ingest", "plan", "guard", "approval", "step", "finish"):
        parts.wrap(nodes, name, f"node {name} (Python)")

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        svc = Service(tmp / "warm", policy=auto_policy(tmp / "auto.yaml"))
        if hasattr(svc, "long_lived"):  # as the server, a worker and bench_analysis.py
            svc.long_lived()
        ana = svc.principal("ana@acme", "asserted", writing=True)
        for _ in range(2):  # warm-up: imports, rules, schema
            svc.start(ana, NOTICE, tenant="acme")
        parts.cpu.clear()
        parts.calls.clear()
        cpu0 = time.process_time()
        for _ in range(args.runs):
            assert svc.start(ana, NOTICE, tenant="acme").status == "completed"
        total = time.process_time() - cpu0
    shown = dict(parts.cpu)
    attributed = sum(shown.values())
    own = shown.get("analysers' own calls", 0.0)
    per = 1000 / args.runs
    print(f"{'part':<45} {'ms CPU':>8} {'calls':>6}")
    for part, cpu in sorted(shown.items(), key=lambda kv: -kv[1]):
        calls = parts.calls.get(part, 0) / args.runs
        print(f"{part:<45} {cpu * per:8.1f} {calls:6.1f}")
    print(f"{'not attributed (DuckDB threads, GC, ...)':<45} {(total - attributed) * per:8.1f}")
    print(f"{'whole analysis (process CPU)':<45} {total * per:8.1f}")
    print(f"orchestration / analysers (CPU): {(total - own) / own:.2f}")


if __name__ == "__main__":
    main()
