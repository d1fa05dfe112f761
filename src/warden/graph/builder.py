"""The LangGraph StateGraph: ingest -> prepare (plan, guard, approval) -> step* -> finish.

Supersteps: ingest (a root run's documents; a child, which reuses its parent's, starts at
prepare), prepare (plan, guard and, when a policy rule approves the draft at once, the
approval, then the steps as below when the first is an analyser step: one superstep, see
:func:`_preparing`), approval (a human decision: its interrupt needs a superstep of its own),
each step, or a batch of steps while the one just run is pure, with finish after a pure last
step (see :func:`_stepping`), finish. Each writes one checkpoint.

Test hook (inert unless set): ``WARDEN_TEST_KILL_AT=[before:|after:]<node>[:n]`` makes the
process SIGKILL itself at the n-th (default first) boundary of that node function in this
process, counting nested graphs' nodes too: ``before`` as the node starts (ingest, plan, a
human's approval, a step or finish that starts a superstep: their previous checkpoint is
saved; guard, an auto-approval, and a step or finish run in place after a node of the same
superstep: that node returned, nothing of the superstep checkpointed), ``after`` (the default)
once its body has returned, with its store writes committed but its checkpoint not yet
written. tests/reliability kills a run at every boundary in turn and checks that ``warden
resume`` ends with the same findings as an uninterrupted run.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from typing import Any, cast

from langgraph.errors import GraphBubbleUp
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import Command

from warden.graph import nodes
from warden.graph.context import RunContext
from warden.graph.nodes.approval import decided_by_policy
from warden.graph.nodes.ingest import reads_documents
from warden.graph.nodes.step import goes_on, starts_in_place, superstep_clock
from warden.graph.state import RunState, StateUpdate
from warden.store import retrying_conflicts

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


NodeFn = Callable[[RunState, RunContext], StateUpdate]


def _running(state: RunState) -> bool:
    return (state.get("status") or "running") == "running"


def _entry(state: RunState) -> str:
    return "ingest" if reads_documents(state) else "prepare"


def _after_ingest(state: RunState) -> str:
    return "prepare" if _running(state) else "finish"


def _after_approval(state: RunState) -> str:
    return "step" if _running(state) and state.get("order") else "finish"


def _after_step(state: RunState) -> str:
    more = state.get("cursor", 0) < len(state.get("order") or [])
    return "step" if _running(state) and more else "finish"


def _preparing(
    checks: tuple[NodeFn, ...], approval: NodeFn, step: NodeFn, finish: NodeFn
) -> Callable[[RunState, RunContext], Command[str]]:
    """`checks` (plan, guard) in order while the run is running, then `approval` when a policy
    rule approves the draft at once, as one superstep; then, when the first step is an analyser
    step, the steps in place as :func:`_stepping` runs them.

    None of them calls a model or waits, and each may run again: plan and guard only read
    (their records ride in the state; a refusal's writes are keyed), an auto-approval's writes
    are keyed and idempotent (as when a kill after its own superstep re-ran it). A kill inside
    re-runs them from the checkpoint before, two checkpoints fewer per run. A draft a human
    must decide goes on to the approval node (its interrupt re-runs its node on resume)."""

    def prepare(state: RunState, ctx: RunContext) -> Command[str]:
        started = superstep_clock()
        current: dict[str, Any] = dict(state)
        update: StateUpdate = {}

        def run(fn: NodeFn) -> None:
            changed = fn(cast(RunState, current), ctx)
            update.update(changed)
            current.update(changed)

        for fn in checks:
            run(fn)
            if not _running(cast(RunState, current)):
                return Command(update=update, goto="finish")
        if not decided_by_policy(cast(RunState, current), ctx):
            return Command(update=update, goto="approval")
        run(approval)
        if starts_in_place(cast(RunState, current), ctx):
            return _steps(step, finish, current, update, ctx, started)
        return Command(update=update, goto=_after_approval(cast(RunState, current)))

    return prepare


def _stepping(step: NodeFn, finish: NodeFn) -> Callable[[RunState, RunContext], Command[str]]:
    """The step node: `step` run once, then on in the same superstep while the step just run is
    pure (:func:`warden.graph.nodes.step.goes_on`: no model, no cost, nothing written outside
    the checkpointed ledger, the superstep under a second): the next analyser step, or `finish`
    after the run's last step. One checkpoint for the batch instead of one each.

    A kill inside re-runs the batch's steps from the checkpoint before it: their records were
    in the state only, or flushed by a later step's gate or by finish (keyed: written once; the
    gate skips a step the store has completed; finish's status and duration are set again to
    the same values), so the resumed tree ends the same. A step that calls a model ends its
    batch, so no model call is ever made again; a child run's step is always a superstep of
    its own."""

    def stepping(state: RunState, ctx: RunContext) -> Command[str]:
        return _steps(step, finish, dict(state), {}, ctx, superstep_clock())

    return stepping


def _steps(
    step: NodeFn,
    finish: NodeFn,
    current: dict[str, Any],
    update: StateUpdate,
    ctx: RunContext,
    started: tuple[float, float],
) -> Command[str]:
    """Steps from `current` (the state as this superstep has changed it so far, `update` the
    changes), on as :func:`_stepping` says, then where the run goes next.

    A node run in place after another that raises (a bug, the store failing) ends the
    superstep instead: what ran before it is checkpointed and it runs again as a superstep of
    its own, raising there if it must, so an exception out of the graph leaves checkpointed
    (and written: see engine.py) every step done before it, as with one step per superstep."""
    first = True
    while True:
        done = current.get("cursor", 0)
        try:
            changed = step(cast(RunState, current), ctx)
        except GraphBubbleUp:  # an interrupt (never from a step run in place: analysers only)
            raise
        except Exception:
            if first and not update:
                raise
            return Command(update=update, goto="step")
        first = False
        update.update(changed)
        current.update(changed)
        then = goes_on(cast(RunState, current), ctx, done, started)
        if then == "finish":
            try:
                update.update(finish(cast(RunState, current), ctx))
            except Exception:
                return Command(update=update, goto="finish")
            return Command(update=update, goto=END)
        if then != "step":
            return Command(update=update, goto=_after_step(cast(RunState, current)))


def _injected(fn: Callable[[RunState, RunContext], Any]) -> Callable[..., Any]:
    """A node as LangGraph calls it: the invocation's context arrives through ``runtime``."""

    def node(state: RunState, runtime: Runtime[RunContext]) -> Any:
        # a node that lost a write race to another tree (the same document stored at once) runs
        # again: nothing of it committed, and nodes are idempotent (as after a crash)
        return retrying_conflicts(lambda: fn(state, runtime.context))

    node.__name__ = getattr(fn, "__name__", "node")
    return node


def build_graph() -> Any:
    """The graph definition (a LangGraph ``StateGraph`` over :class:`RunState`, to compile); what
    nodes use comes from the :class:`RunContext` of each invocation."""
    graph: Any = StateGraph(RunState, context_schema=RunContext)
    kill = _kill_point()
    fns: dict[str, NodeFn] = {}
    for name in NODES:
        fn: NodeFn = getattr(nodes, name)
        fns[name] = _killing(name, fn, kill[0], kill[2]) if kill is not None and kill[1] == name else fn
    after = ("approval", "step", "finish", END)
    prepare = _injected(_preparing((fns["plan"], fns["guard"]), fns["approval"], fns["step"], fns["finish"]))
    graph.add_node("ingest", _injected(fns["ingest"]))
    graph.add_node("prepare", prepare, destinations=after)
    graph.add_node("approval", _injected(fns["approval"]))
    graph.add_node(
        "step", _injected(_stepping(fns["step"], fns["finish"])), destinations=("step", "finish", END)
    )
    graph.add_node("finish", _injected(fns["finish"]))
    # a checkpoint written before prepare existed may name the next node "plan" or "guard"
    graph.add_node("plan", prepare, destinations=after)
    guard = _preparing((fns["guard"],), fns["approval"], fns["step"], fns["finish"])
    graph.add_node("guard", _injected(guard), destinations=after)
    graph.add_conditional_edges(START, _entry, ["ingest", "prepare"])
    graph.add_conditional_edges("ingest", _after_ingest, ["prepare", "finish"])
    graph.add_conditional_edges("approval", _after_approval, ["step", "finish"])
    graph.add_edge("finish", END)
    return graph
