"""Contract checks: what each step consumes is what its producer outputs."""

from __future__ import annotations

from collections.abc import Iterator

from warden.guard.checks._base import analyser_steps, issue, template_references
from warden.guard.context import GuardContext
from warden.schemas.report import GuardIssue
from warden.schemas.runbook import AnalyserStep, RunbookDefinition

__all__ = ["check_contracts", "output_schema_of"]

WORKFLOW_OUTPUT = "findings"
"""What an ``execute_workflow`` step hands on: the findings of its child run."""


def output_schema_of(runbook: RunbookDefinition, name: str, ctx: GuardContext) -> str | None:
    """Data schema of a runbook input or of a step's output; None when unknown."""
    if name in runbook.inputs:
        return runbook.inputs[name]
    for step in runbook.steps:
        if step.id == name:
            if isinstance(step, AnalyserStep):
                manifest = ctx.catalogue.get(step.analyser)
                return manifest.output_schema if manifest else None
            return WORKFLOW_OUTPUT
    return None


def check_contracts(runbook: RunbookDefinition, ctx: GuardContext) -> Iterator[GuardIssue]:
    for i, step in analyser_steps(runbook):
        manifest = ctx.catalogue.get(step.analyser)
        if manifest is None:
            continue
        wanted = list(manifest.input_schemas)
        given: list[str] = []
        for j, name in enumerate(step.input):
            schema = output_schema_of(runbook, name, ctx)
            if schema is None:
                continue
            given.append(schema)
            if schema not in wanted:
                yield issue(
                    "contract_mismatch",
                    f"steps[{i}].input[{j}]",
                    f"'{step.analyser}' accepts {wanted or 'no data inputs'} but '{name}' provides {schema}",
                    fix="feed the step from a producer of the right schema, or remove this input",
                )
        for schema in wanted:
            if schema not in given and len(given) == len(step.input):
                yield issue(
                    "contract_mismatch",
                    f"steps[{i}].input",
                    f"'{step.analyser}' needs a {schema} input and the step provides none",
                    fix=f"add a runbook input or step that produces {schema}",
                )
        if manifest.reads == "systems" and step.system is None:
            yield issue(
                "contract_mismatch",
                f"steps[{i}].system",
                f"'{step.analyser}' reads a system and the step names none",
                fix="set `system:` to a system id from the tenant's inventory",
            )
        if manifest.reads == "documents" and step.system is not None:
            yield issue(
                "contract_mismatch",
                f"steps[{i}].system",
                f"'{step.analyser}' reads documents only and cannot scan system '{step.system}'",
                fix="remove `system:` or use a system-scanning analyser",
            )
    for i, _, ref in template_references(runbook):
        if ref.kind == "input":
            if ref.name not in runbook.inputs:
                continue  # the references check reports it
            # the executor runs a child only from an earlier step's output: a runbook handed in
            # as an input would reach no guard of its own before this run's approval covers it
            yield issue(
                "contract_mismatch",
                f"steps[{i}].execute_workflow",
                f"execute_workflow refers to runbook input '{ref.name}'; a child runbook must be "
                "the output of an earlier step",
                fix="refer to a planner step's output ('{{ steps.<id>.output }}') or give the child inline",
            )
            continue
        schema = output_schema_of(runbook, ref.name, ctx)
        if schema is not None and schema != "runbook_definition":
            yield issue(
                "contract_mismatch",
                f"steps[{i}].execute_workflow",
                f"'{ref.name}' outputs {schema}, but execute_workflow needs a runbook_definition",
                fix="refer to a planner step such as policy_to_runbook",
            )
