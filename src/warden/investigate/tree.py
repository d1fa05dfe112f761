"""The execution tree: every run below a run, its steps, what each cost and how long it took."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from warden.investigate.source import Source
from warden.store import reads

__all__ = ["RunNode", "StepNode", "execution_tree", "format_tree", "step_timings", "walk"]


@dataclass
class StepNode:
    """One step of a run: an analyser call or a child runbook."""

    run_id: str
    step_id: str
    kind: str
    analyser: str | None
    system_id: str | None
    status: str
    attempts: int
    started_at: datetime | None
    finished_at: datetime | None
    duration_s: float | None
    cost_usd: float
    error: str | None
    child_run_id: str | None


@dataclass
class RunNode:
    """One run with its steps and the runs its steps started."""

    run_id: str
    parent_run_id: str | None
    depth: int
    tenant: str
    requester: str
    runbook: str | None
    runbook_version: int | None
    """The version the runbook declares; `approved_version` is its number in the published record."""
    runbook_sha256: str | None
    approved_version: int | None
    status: str
    status_reason: str | None
    created_at: datetime
    finished_at: datetime | None
    duration_s: float
    cost_usd: float
    steps: list[StepNode] = field(default_factory=list)
    children: list[RunNode] = field(default_factory=list)

    @property
    def tree_cost_usd(self) -> float:
        """This run's spend plus everything below it."""
        return self.cost_usd + sum(c.tree_cost_usd for c in self.children)


_RUN_FIELDS = (
    "run_id",
    "parent_run_id",
    "depth",
    "tenant",
    "requester",
    "runbook",
    "runbook_version",
    "runbook_sha256",
    "approved_version",
    "status",
    "status_reason",
    "created_at",
    "finished_at",
    "duration_s",
    "cost_usd",
)


def execution_tree(source: Source, run_id: str) -> RunNode:
    """`run_id` as the root of a tree of RunNodes (children in the order they started)."""
    with source.connect() as con:
        source.run(run_id)
        runs = reads.runs_of_tree(con, run_id)
        steps = reads.steps_of_tree(con, run_id)
    nodes = {r["run_id"]: RunNode(**{k: r[k] for k in _RUN_FIELDS}) for r in runs}
    for s in steps:
        nodes[s["run_id"]].steps.append(StepNode(**s))
    for node in nodes.values():
        if node.run_id != run_id and node.parent_run_id in nodes:
            nodes[node.parent_run_id].children.append(node)
    return nodes[run_id]


def walk(node: RunNode) -> Iterator[RunNode]:
    """Depth first, parents before children."""
    yield node
    for child in node.children:
        yield from walk(child)


def _prefix(top: str, run_id: str) -> str:
    """'checks/' for a step of child run 'ROOT.checks': where the step sits, in a few characters."""
    return run_id[len(top) :].lstrip(".").replace(".", "/") + "/" if run_id != top else ""


def step_timings(source: Source, run_id: str) -> list[dict[str, Any]]:
    """Every analyser step of the tree with its duration and cost, in the order they ran."""
    out = [
        {
            "run_id": s.run_id,
            "depth": run.depth,
            "step_id": s.step_id,
            "label": f"{_prefix(run_id, run.run_id)}{s.step_id} ({s.analyser})",
            "analyser": s.analyser,
            "status": s.status,
            "attempts": s.attempts,
            "started_at": s.started_at,
            "duration_s": s.duration_s or 0.0,
            "cost_usd": s.cost_usd,
        }
        for run in walk(execution_tree(source, run_id))
        for s in run.steps
        if s.kind == "analyser"
    ]
    out.sort(key=lambda r: (r["started_at"] is None, r["started_at"] or datetime.min))
    return out


def format_tree(node: RunNode, indent: str = "") -> str:
    """The tree as indented text: runs with version, status, time and cost; steps beneath."""
    version = f" v{node.approved_version}" if node.approved_version is not None else ""
    lines = [
        f"{indent}{node.run_id} {node.runbook or '?'}{version} [{node.status}] "
        f"{node.duration_s:.2f}s ${node.tree_cost_usd:.4f}"
    ]
    for s in node.steps:
        took = f"{s.duration_s:.3f}s" if s.duration_s is not None else "-"
        where = f" on {s.system_id}" if s.system_id else ""
        lines.append(
            f"{indent}  - {s.step_id} ({s.analyser or 'execute_workflow'}{where}) {s.status} {took} "
            f"${s.cost_usd:.4f}"
        )
        for child in node.children:
            if child.run_id == s.child_run_id:
                lines.append(format_tree(child, indent + "    "))
    return "\n".join(lines)
