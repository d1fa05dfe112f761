"""Structural checks: every reference resolves, and the step graph has no loop."""

from __future__ import annotations

from collections.abc import Iterator

from warden.guard.checks._base import analyser_steps, issue, template_references
from warden.guard.context import GuardContext
from warden.schemas.report import GuardIssue
from warden.schemas.runbook import RunbookDefinition

__all__ = ["check_cycles", "check_references", "dependencies"]


def dependencies(runbook: RunbookDefinition) -> dict[str, list[str]]:
    """Step id -> ids of the steps it consumes (runbook inputs are not steps)."""
    step_ids = {s.id for s in runbook.steps}
    deps: dict[str, list[str]] = {s.id: [] for s in runbook.steps}
    for _, step in analyser_steps(runbook):
        deps[step.id] = [name for name in step.input if name in step_ids]
    for _, wf_step, ref in template_references(runbook):
        if ref.kind == "step" and ref.name in step_ids:
            deps[wf_step.id] = [ref.name]
    return deps


def check_references(runbook: RunbookDefinition, ctx: GuardContext) -> Iterator[GuardIssue]:
    """Inputs name runbook inputs or steps; templates name steps or inputs; systems exist."""
    step_ids = {s.id for s in runbook.steps}
    known = step_ids | set(runbook.inputs)
    for i, step in analyser_steps(runbook):
        for j, name in enumerate(step.input):
            if name not in known:
                yield issue(
                    "unknown_reference",
                    f"steps[{i}].input[{j}]",
                    f"step '{step.id}' consumes '{name}', which is neither a runbook input nor a step",
                    fix=f"use one of: {', '.join(sorted(known)) or '(none defined)'}",
                )
        # with a tenant, the tenancy check answers for every system outside its inventory
        policy = ctx.policy if ctx.tenant is None else None
        if step.system is not None and policy is not None and policy.find_system(step.system) is None:
            yield issue(
                "unknown_reference",
                f"steps[{i}].system",
                f"system '{step.system}' is not in any tenant's inventory",
                fix="add it to the tenant's systems in the policy, or fix the id",
            )
    for i, wf_step, ref in template_references(runbook):
        if (ref.kind == "step" and ref.name not in step_ids) or (
            ref.kind == "input" and ref.name not in runbook.inputs
        ):
            yield issue(
                "unknown_reference",
                f"steps[{i}].execute_workflow",
                f"'{wf_step.execute_workflow}' refers to {ref.kind} '{ref.name}', which does not exist",
                fix="refer to an earlier step that outputs a runbook_definition",
            )


def check_cycles(runbook: RunbookDefinition, ctx: GuardContext) -> Iterator[GuardIssue]:
    """Report each loop in the step graph once, with the loop spelled out."""
    deps = dependencies(runbook)
    index = {s.id: i for i, s in enumerate(runbook.steps)}
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    reported: set[frozenset[str]] = set()

    def visit(node: str, stack: list[str]) -> Iterator[GuardIssue]:
        state[node] = 1
        stack.append(node)
        for nxt in deps.get(node, []):
            if state.get(nxt) == 1:
                loop = [*stack[stack.index(nxt) :], nxt]
                key = frozenset(loop)
                if key not in reported:
                    reported.add(key)
                    yield issue(
                        "cycle",
                        f"steps[{index[nxt]}]",
                        "steps depend on each other in a loop: " + " -> ".join(loop),
                        fix="break the loop: a step may consume only steps that do not consume it",
                    )
            elif nxt not in state:
                yield from visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for step in runbook.steps:
        if step.id not in state:
            yield from visit(step.id, [])
