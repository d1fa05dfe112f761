"""The LangGraph StateGraph: ingest -> plan -> guard -> approval -> step* -> finish."""

from __future__ import annotations

from functools import partial
from typing import Any

from langgraph.graph import END, START, StateGraph

from warden.graph import nodes
from warden.graph.runtime import Runtime
from warden.graph.state import RunState

__all__ = ["build_graph"]


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


def build_graph(rt: Runtime) -> StateGraph:
    """Nodes are bound to the process's runtime; the graph itself holds no other state."""
    graph: Any = StateGraph(RunState)
    for name in ("ingest", "plan", "guard", "approval", "step", "finish"):
        graph.add_node(name, partial(getattr(nodes, name), rt=rt))
    graph.add_edge(START, "ingest")
    graph.add_conditional_edges("ingest", _after_ingest, ["plan", "finish"])
    graph.add_edge("plan", "guard")
    graph.add_conditional_edges("guard", _after_guard, ["approval", "finish"])
    graph.add_conditional_edges("approval", _after_approval, ["step", "finish"])
    graph.add_conditional_edges("step", _after_step, ["step", "finish"])
    graph.add_edge("finish", END)
    return graph
