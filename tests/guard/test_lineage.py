"""The guard's checks of a child's place in its tree (approval role, name), of what an
``execute_workflow`` step may carry (an input's runbook, a retry) and of the caps its
``timeout_s`` sets the child."""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

import pytest
import yaml

from warden.catalogue import Catalogue
from warden.governance import LoadedPolicy
from warden.guard import GuardContext, validate_data
from warden.guard.context import step_caps
from warden.safeload import Parsed, parse_text
from warden.schemas import ValidationReport
from warden.schemas.runbook import Limits, WorkflowStep


def run(data: Any, ctx: GuardContext) -> ValidationReport:
    return validate_data(Parsed(data=data), ctx)


def codes(report: ValidationReport, severity: str) -> set[str]:
    return {i.code for i in report.issues if i.severity == severity}


@pytest.fixture
def ctx(acme_policy: LoadedPolicy, catalogue: Catalogue) -> GuardContext:
    return GuardContext(catalogue=catalogue, policy=acme_policy, tenant="acme")


def _child(name: str = "acme-checks", role: str = "dpo") -> dict[str, Any]:
    return {
        "runbook": name,
        "tenant": "acme",
        "inputs": {"document": "document"},
        "approval": {"required_role": role},
        "steps": [{"id": "practices", "analyser": "policy_practices", "input": "document"}],
    }


def _generated(ctx: GuardContext, **fields: Any) -> GuardContext:
    """The context a generated child's own guard gets at depth 1 under the bundled root."""
    return replace(ctx, depth=1, parent_role="dpo", ancestor_runbooks=("privacy-policy-review",), **fields)


# --- a child's approval role is its parent's ----------------------------------------------------


def test_a_child_naming_another_role_than_its_parents_is_warned_as_missing_approval(
    ctx: GuardContext,
) -> None:
    report = run(_child(role="admin"), _generated(ctx))
    lineage = [i for i in report.issues if i.check == "lineage"]
    assert [(i.code, i.severity, i.path) for i in lineage] == [
        ("missing_approval", "warning", "approval.required_role")
    ]
    assert "'dpo'" in lineage[0].message and lineage[0].fix


def test_a_child_naming_its_parents_role_and_a_root_naming_any_role_are_not_warned(
    ctx: GuardContext,
) -> None:
    assert run(_child(role="dpo"), _generated(ctx)).issues == []
    root = replace(ctx, parent_role="analyst")  # depth 0: a root has no parent whose role binds it
    assert [i for i in run(_child(role="dpo"), root).issues if i.check == "lineage"] == []


def test_an_inline_child_naming_another_role_is_warned_at_its_path(
    root_runbook_data: dict, ctx: GuardContext
) -> None:
    root_runbook_data["steps"][3]["execute_workflow"] = _child(role="admin")
    report = run(root_runbook_data, ctx)
    assert [(i.code, i.severity, i.path) for i in report.issues if i.check == "lineage"] == [
        ("missing_approval", "warning", "steps[3].execute_workflow.approval.required_role")
    ]


# --- a child may not run under an ancestor's name ----------------------------------------------


def test_a_child_named_after_its_root_is_warned_as_a_cycle(ctx: GuardContext) -> None:
    report = run(_child(name="privacy-policy-review"), _generated(ctx))
    assert [(i.code, i.severity, i.path) for i in report.issues] == [("cycle", "warning", "runbook")]


def test_any_ancestors_name_counts_and_a_sibling_name_does_not(ctx: GuardContext) -> None:
    deeper = replace(_generated(ctx), depth=2, ancestor_runbooks=("privacy-policy-review", "acme-checks"))
    assert codes(run(_child(name="acme-checks"), deeper), "warning") == {"cycle"}
    assert run(_child(name="acme-other-checks"), deeper).issues == []


def test_an_inline_child_named_after_its_parent_is_warned(root_runbook_data: dict, ctx: GuardContext) -> None:
    root_runbook_data["steps"][3]["execute_workflow"] = _child(name="privacy-policy-review")
    report = run(root_runbook_data, ctx)
    assert [(i.code, i.path) for i in report.issues if i.check == "lineage"] == [
        ("cycle", "steps[3].execute_workflow.runbook")
    ]


# --- what an execute_workflow step may carry ---------------------------------------------------


def test_a_child_taken_from_a_runbook_input_is_a_contract_mismatch_with_its_line(
    root_runbook_data: dict, ctx: GuardContext
) -> None:
    root_runbook_data["inputs"]["handed"] = "runbook_definition"
    root_runbook_data["steps"][3]["execute_workflow"] = "{{ inputs.handed }}"
    text = parse_text(yaml.safe_dump(root_runbook_data, sort_keys=False), source="book.yaml")
    report = validate_data(text, ctx)
    assert not report.ok
    found = [i for i in report.issues if i.severity == "error"]
    assert [(i.code, i.path) for i in found] == [("contract_mismatch", "steps[3].execute_workflow")]
    assert found[0].line is not None and "earlier step" in found[0].message


def test_an_unknown_input_in_execute_workflow_stays_one_unknown_reference(
    root_runbook_data: dict, ctx: GuardContext
) -> None:
    root_runbook_data["steps"][3]["execute_workflow"] = "{{ inputs.nowhere }}"
    assert codes(run(root_runbook_data, ctx), "error") == {"unknown_reference"}


def test_a_retry_on_an_execute_workflow_step_is_refused(root_runbook_data: dict, ctx: GuardContext) -> None:
    root_runbook_data["steps"][3]["retry"] = {"max_attempts": 2}
    report = run(root_runbook_data, ctx)
    assert [(i.code, i.path, i.check) for i in report.issues if i.severity == "error"] == [
        ("schema", "steps[3].retry", "retries")
    ]
    root_runbook_data["steps"][3]["retry"] = {"max_attempts": 1}
    assert run(root_runbook_data, ctx).ok


# --- the timeout of an execute_workflow step caps its child ------------------------------------


def test_a_steps_timeout_is_its_childs_time_cap_from_the_trees_time_so_far() -> None:
    step = WorkflowStep.model_validate(
        {
            "id": "child",
            "execute_workflow": "{{ steps.plan.output }}",
            "timeout_s": 2,
            "limits": {"max_cost_usd": 1},
        }
    )
    assert step_caps(step) == Limits(max_cost_usd=1, max_duration_s=2)
    assert step_caps(step, elapsed_s=5) == Limits(max_cost_usd=1, max_duration_s=7)
    tight = step.model_copy(update={"limits": Limits(max_duration_s=1)})
    assert step_caps(tight, elapsed_s=5).max_duration_s == 1
    untimed = step.model_copy(update={"timeout_s": None})
    assert step_caps(untimed) is untimed.limits


def test_an_inline_child_asking_more_time_than_its_steps_timeout_is_refused(
    root_runbook_data: dict, ctx: GuardContext
) -> None:
    child = copy.deepcopy(_child())
    child["limits"] = {"max_duration_s": 60}
    root_runbook_data["steps"][3].update(execute_workflow=child, timeout_s=30)
    report = run(root_runbook_data, ctx)
    assert [(i.code, i.path) for i in report.issues if i.severity == "error"] == [
        ("duration_limit", "steps[3].execute_workflow.limits.max_duration_s")
    ]
    child["limits"] = {"max_duration_s": 30}
    assert run(root_runbook_data, ctx).ok
