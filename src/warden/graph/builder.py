"""The LangGraph StateGraph: ingest -> plan -> guard -> approval -> step* -> finish.

Test hook (inert unless set): ``WARDEN_TEST_KILL_AT=[before:|after:]<node>[:n]`` makes the
process SIGKILL itself at the n-th (default first) boundary of that node in this process,
counting nested graphs' nodes too: ``before`` as the node starts (its previous checkpoint is
saved), ``after`` (the default) once its body has returned, with its store writes committed
but its checkpoint not yet written. tests/reliability kills a run at every boundary in turn
and checks that ``warden resume`` ends with the same findings as an uninterrupted run.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from warden.graph import nodes
from warden.graph.context import RunContext
from warden.graph.state import RunState, StateUpdate

__all__ = ["KILL_ENV", "build_graph"]

KILL_ENV = "WARDEN_TEST_KILL_AT"
NODES = ("ingest", "plan", "guard", "approval", "step", "finish")
_seen: dict[str, int] = {}
"""Boundaries of each node passed in this process (for the kill hook)."""


def _kill_point() -> tuple[str, str, int] | None:
    """(when, node, n) from $WARDEN_TEST_KILL_AT, or None (the usual case: no hook at all)."""
    raw = os.environ.get(KILL_ENV)
    if not raw:
        return None
    when, _, rest = raw.partition(":") if raw.startswith(("before:", "after:")) else ("after", "", raw)
    node, _, count = rest.partition(":")
    if node not in NODES or when not in ("before", "after") or (count and not count.isdigit()):
        raise ValueError(f"{KILL_ENV}={raw!r}: expected [before:|after:]<{'|'.join(NODES)}>[:n]")
    return when, node, int(count or 1)


def _killing(name: str, fn: Callable[..., StateUpdate], when: str, n: int) -> Callable[..., StateUpdate]:
    def node(state: RunState, ctx: RunContext) -> StateUpdate:
        key = f"{when}:{name}"
        if when == "before":
            _seen[key] = _seen.get(key, 0) + 1
            if _seen[key] == n:
                os.kill(os.getpid(), signal.SIGKILL)
        update = fn(state, ctx)
        if when == "after":
            _seen[key] = _seen.get(key, 0) + 1
            if _seen[key] == n:
                os.kill(os.getpid(), signal.SIGKILL)
        return update

    return node


def _running(state: RunState) -> bool:
    return (state.get("status") or "running") == "running"


def _after_ingest(state: RunState) -> str:
    return "plan" if _running(state) else "finish"


def _after_guard(state: RunState) -> str:
    return "approval" if _running(state) else "finish"


def _after_approval(state: RunState) -> str:
    return "step" if _running(state) and state.get("order") else "finish"


def _after_step(state: RunState) -> str:
    more = state.get("cursor", 0) < len(state.get("order") or [])
    return "step" if _running(state) and more else "finish"


def _injected(fn: Callable[[RunState, RunContext], StateUpdate]) -> Callable[..., StateUpdate]:
    """A node as LangGraph calls it: the invocation's context arrives through ``runtime``."""

    def node(state: RunState, runtime: Runtime[RunContext]) -> StateUpdate:
        return fn(state, runtime.context)

    node.__name__ = getattr(fn, "__name__", "node")
    return node


def build_graph() -> Any:
    """The graph definition (a LangGraph ``StateGraph`` over :class:`RunState`, to compile); what
    nodes use comes from the :class:`RunContext` of each invocation."""
    graph: Any = StateGraph(RunState, context_schema=RunContext)
    kill = _kill_point()
    for name in NODES:
        fn: Callable[[RunState, RunContext], StateUpdate] = getattr(nodes, name)
        if kill is not None and kill[1] == name:
            fn = _killing(name, fn, kill[0], kill[2])
        graph.add_node(name, _injected(fn))
    graph.add_edge(START, "ingest")
    graph.add_conditional_edges("ingest", _after_ingest, ["plan", "finish"])
    graph.add_edge("plan", "guard")
    graph.add_conditional_edges("guard", _after_guard, ["approval", "finish"])
    graph.add_conditional_edges("approval", _after_approval, ["step", "finish"])
    graph.add_conditional_edges("step", _after_step, ["step", "finish"])
    graph.add_edge("finish", END)
    return graph
