"""Every guard code: a runbook that triggers it, and the nearest one that does not."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from warden.catalogue import Catalogue
from warden.errors import LoadError
from warden.governance import LoadedPolicy, load_policy
from warden.guard import GuardContext, load_error_report, validate_data
from warden.safeload import Parsed, parse_text
from warden.schemas import ISSUE_CODES, AnalyserManifest, ValidationReport

ACME = Path(__file__).resolve().parents[2] / "fixtures" / "acme" / "policy.yaml"


def run(data: Any, ctx: GuardContext) -> ValidationReport:
    return validate_data(Parsed(data=data), ctx)


def errors(report: ValidationReport) -> set[str]:
    return {i.code for i in report.issues if i.severity == "error"}


def warnings(report: ValidationReport) -> set[str]:
    return {i.code for i in report.issues if i.severity == "warning"}


@pytest.fixture
def ctx(acme_policy: LoadedPolicy, catalogue: Catalogue) -> GuardContext:
    return GuardContext(catalogue=catalogue, policy=acme_policy, tenant="acme")


@pytest.fixture
def policy_with(tmp_path: Path) -> Callable[[Callable[[dict], None]], LoadedPolicy]:
    """The acme policy after `mutate`, written beside a copy of its folder layout."""

    def make(mutate: Callable[[dict], None]) -> LoadedPolicy:
        data = yaml.safe_load(ACME.read_text())
        mutate(data)
        path = tmp_path / "acme" / "policy.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(data))
        return load_policy(path)

    return make


def manifest(name: str, **fields: Any) -> AnalyserManifest:
    base: dict[str, Any] = {
        "name": name,
        "version": "1.0.0",
        "description": f"test analyser {name}",
        "entrypoint": "tests.nowhere:run",
        "input_schemas": ["document"],
        "output_schema": "findings",
    }
    return AnalyserManifest(**(base | fields))


def test_the_bundled_root_runbook_has_no_issue_at_all(root_runbook_data: dict, ctx: GuardContext) -> None:
    report = run(root_runbook_data, ctx)
    assert report.ok and report.issues == []
    assert {c.status for c in report.checks} == {"passed"}
    assert report.runbook_sha256 and report.policy_sha256 == ctx.policy.sha256


def test_every_documented_code_is_reachable_from_this_file() -> None:
    source = Path(__file__).read_text()
    untested = [code for code in ISSUE_CODES if f'"{code}"' not in source]
    assert untested == []


# --- schema -------------------------------------------------------------------------------------


def test_schema_flags_a_misspelt_field_with_its_path(root_runbook_data: dict, ctx: GuardContext) -> None:
    root_runbook_data["steps"][1]["analyzer"] = root_runbook_data["steps"][1].pop("analyser")
    report = run(root_runbook_data, ctx)
    assert errors(report) == {"schema"}
    assert any(i.path.startswith("steps[1]") for i in report.issues)
    assert {c.status for c in report.checks if c.name != "schema"} == {"skipped"}


def test_schema_flags_step_config_that_breaks_the_analysers_config_schema(
    root_runbook_data: dict, ctx: GuardContext
) -> None:
    root_runbook_data["steps"][2]["config"] = {"planner": "oracle"}
    report = run(root_runbook_data, ctx)
    assert errors(report) == {"schema"}
    assert report.issues[0].path == "steps[2].config.planner"


def test_schema_accepts_step_config_within_the_analysers_config_schema(
    root_runbook_data: dict, ctx: GuardContext
) -> None:
    root_runbook_data["steps"][2]["config"] = {"planner": "offline", "max_steps": 5}
    assert "schema" not in errors(run(root_runbook_data, ctx))


def test_schema_refuses_duplicate_step_ids(root_runbook_data: dict, ctx: GuardContext) -> None:
    root_runbook_data["steps"][1]["id"] = "practices"
    assert errors(run(root_runbook_data, ctx)) == {"schema"}


def test_a_top_level_list_is_a_schema_issue_not_a_crash(ctx: GuardContext) -> None:
    assert errors(run([1, 2, 3], ctx)) == {"schema"}


# --- cycle --------------------------------------------------------------------------------------


def test_cycle_is_reported_with_the_loop_spelled_out(root_runbook_data: dict, ctx: GuardContext) -> None:
    root_runbook_data["steps"][0]["input"] = ["document", "transparency"]
    report = run(root_runbook_data, ctx)
    cycles = [i for i in report.issues if i.code == "cycle"]
    assert len(cycles) == 1
    assert "practices -> transparency -> practices" in cycles[0].message or (
        "transparency -> practices -> transparency" in cycles[0].message
    )


def test_a_step_consuming_itself_is_a_cycle(root_runbook_data: dict, ctx: GuardContext) -> None:
    root_runbook_data["steps"][1]["input"] = ["transparency"]
    assert "cycle" in errors(run(root_runbook_data, ctx))


def test_a_diamond_of_dependencies_is_not_a_cycle(root_runbook_data: dict, ctx: GuardContext) -> None:
    root_runbook_data["steps"].insert(
        2, {"id": "transparency2", "analyser": "gdpr_transparency", "input": "practices"}
    )
    assert "cycle" not in errors(run(root_runbook_data, ctx))


# --- unknown_reference --------------------------------------------------------------------------


def test_unknown_reference_for_an_input_that_names_nothing(
    root_runbook_data: dict, ctx: GuardContext
) -> None:
    root_runbook_data["steps"][1]["input"] = ["practises"]
    report = run(root_runbook_data, ctx)
    assert errors(report) == {"unknown_reference"}
    assert report.issues[0].path == "steps[1].input[0]"


def test_unknown_reference_for_a_template_naming_a_missing_step(
    root_runbook_data: dict, ctx: GuardContext
) -> None:
    root_runbook_data["steps"][3]["execute_workflow"] = "{{ steps.planner.output }}"
    assert errors(run(root_runbook_data, ctx)) == {"unknown_reference"}


def test_a_system_in_no_inventory_reads_like_another_tenants(ctx: GuardContext) -> None:
    """Outside the tenant's inventory is one answer: the report must not tell an id another
    tenant has from one nobody has (an inventory oracle through the review page's edit check)."""
    data = _system_runbook("warehouse")
    report = run(data, _with_scanner(ctx))
    assert errors(report) == {"cross_tenant"}
    (found,) = [i for i in report.issues if i.code == "cross_tenant"]
    assert found.message == "system 'warehouse' is not in the inventory of tenant 'acme'"


def test_without_a_tenant_a_system_in_no_inventory_is_an_unknown_reference(ctx: GuardContext) -> None:
    report = run(_system_runbook("warehouse"), replace(_with_scanner(ctx), tenant=None))
    assert "unknown_reference" in errors(report)


def test_a_system_from_the_tenants_inventory_is_a_known_reference(ctx: GuardContext) -> None:
    report = run(_system_runbook("crm"), _with_scanner(ctx))
    assert errors(report) == set(), report.issues


# --- unknown_analyser / analyser_not_allowed ----------------------------------------------------


def test_unknown_analyser(root_runbook_data: dict, ctx: GuardContext) -> None:
    root_runbook_data["steps"][1]["analyser"] = "gdpr_transparancy"
    report = run(root_runbook_data, ctx)
    assert errors(report) == {"unknown_analyser"}
    assert "gdpr_transparency" in (report.issues[0].fix or "")


def test_analyser_not_allowed_for_the_tenant(root_runbook_data: dict, policy_with, catalogue) -> None:
    def without_planner(data: dict) -> None:
        data["tenants"]["globex"]["analysers"].remove("policy_to_runbook")

    root_runbook_data["tenant"] = "globex"
    globex = GuardContext(catalogue=catalogue, policy=policy_with(without_planner), tenant="globex")
    report = run(root_runbook_data, globex)
    assert "analyser_not_allowed" in errors(report)
    assert [i.path for i in report.issues if i.code == "analyser_not_allowed"] == ["steps[2].analyser"]


def test_analysers_on_the_tenants_list_are_allowed(root_runbook_data: dict, ctx: GuardContext) -> None:
    assert "analyser_not_allowed" not in errors(run(root_runbook_data, ctx))


# --- cross_tenant -------------------------------------------------------------------------------


def test_cross_tenant_when_submitted_for_another_tenant(
    root_runbook_data: dict, acme_policy, catalogue
) -> None:
    globex = GuardContext(catalogue=catalogue, policy=acme_policy, tenant="globex")
    report = run(root_runbook_data, globex)
    assert any(i.code == "cross_tenant" and i.path == "tenant" for i in report.issues)


def test_cross_tenant_when_a_step_reads_another_tenants_system(ctx: GuardContext) -> None:
    report = run(_system_runbook("globex-hr"), _with_scanner(ctx))
    assert errors(report) == {"cross_tenant"}
    assert report.issues[0].path == "steps[0].system"


def test_cross_tenant_inside_an_inline_child_runbook(root_runbook_data: dict, ctx: GuardContext) -> None:
    child = _child(tenant="globex")
    root_runbook_data["steps"][3]["execute_workflow"] = child
    report = run(root_runbook_data, ctx)
    assert any(
        i.code == "cross_tenant" and i.path == "steps[3].execute_workflow.tenant" for i in report.issues
    )


def test_an_inline_child_of_the_same_tenant_is_accepted(root_runbook_data: dict, ctx: GuardContext) -> None:
    root_runbook_data["steps"][3]["execute_workflow"] = _child()
    report = run(root_runbook_data, ctx)
    assert report.ok, report.issues


# --- missing_approval / unknown_role ------------------------------------------------------------


def test_missing_approval_when_no_role_is_named(root_runbook_data: dict, ctx: GuardContext) -> None:
    del root_runbook_data["approval"]
    report = run(root_runbook_data, ctx)
    assert errors(report) == {"missing_approval"}


def test_missing_approval_when_the_role_is_weaker_than_policy_demands(
    root_runbook_data: dict, ctx: GuardContext
) -> None:
    root_runbook_data["approval"]["required_role"] = "analyst"
    report = run(root_runbook_data, ctx)
    assert errors(report) == {"missing_approval"}
    assert report.issues[0].path == "approval.required_role"


def test_missing_approval_in_an_inline_child(root_runbook_data: dict, ctx: GuardContext) -> None:
    child = _child()
    del child["approval"]
    root_runbook_data["steps"][3]["execute_workflow"] = child
    assert "missing_approval" in errors(run(root_runbook_data, ctx))


def test_unknown_role(root_runbook_data: dict, ctx: GuardContext) -> None:
    root_runbook_data["approval"]["required_role"] = "ceo"
    report = run(root_runbook_data, ctx)
    assert errors(report) == {"unknown_role"}


def test_a_role_nobody_holds_is_a_warning_not_an_error(
    root_runbook_data: dict, ctx: GuardContext, policy_with: Callable[[Callable[[dict], None]], LoadedPolicy]
) -> None:
    root_runbook_data["approval"]["required_role"] = "admin"
    # the bundled policy's admin holds the role: here nobody does
    policy = policy_with(lambda p: p["tenants"]["acme"]["users"].pop("adam@acme"))
    report = run(root_runbook_data, GuardContext(catalogue=ctx.catalogue, policy=policy, tenant="acme"))
    # admin exists but is not among acme's required roles, and nobody holds it.
    assert "unknown_role" in warnings(report)
    assert "unknown_role" not in errors(report)


# --- cost_limit ---------------------------------------------------------------------------------


def test_cost_limit_when_declared_estimates_exceed_the_cap(
    root_runbook_data: dict, ctx: GuardContext, policy_with
) -> None:
    policy = policy_with(lambda p: p["tenants"]["acme"]["analysers"].append("pricey"))
    costly = _ctx_with(ctx, policy, manifest("pricey", cost_estimate_usd=3.0))
    for i in range(2):
        root_runbook_data["steps"].append({"id": f"pricey{i}", "analyser": "pricey", "input": "document"})
    report = run(root_runbook_data, costly)
    assert errors(report) == {"cost_limit"}
    assert report.cost_estimate_usd == pytest.approx(6.05)


def test_declared_estimates_under_the_cap_pass(
    root_runbook_data: dict, ctx: GuardContext, policy_with
) -> None:
    policy = policy_with(lambda p: p["tenants"]["acme"]["analysers"].append("pricey"))
    costly = _ctx_with(ctx, policy, manifest("pricey", cost_estimate_usd=3.0))
    root_runbook_data["steps"].append({"id": "pricey0", "analyser": "pricey", "input": "document"})
    assert "cost_limit" not in errors(run(root_runbook_data, costly))


def test_cost_limit_when_a_runbook_raises_its_cap_above_the_tenants(
    root_runbook_data: dict, ctx: GuardContext
) -> None:
    root_runbook_data["limits"]["max_cost_usd"] = 50.0
    report = run(root_runbook_data, ctx)
    assert errors(report) == {"cost_limit"}
    assert report.issues[0].path == "limits.max_cost_usd"


def test_cost_limit_when_a_child_step_raises_the_parents_cap(
    root_runbook_data: dict, ctx: GuardContext
) -> None:
    root_runbook_data["steps"][3]["limits"]["max_cost_usd"] = 9.0
    assert errors(run(root_runbook_data, ctx)) == {"cost_limit"}


def test_cost_limit_counts_money_already_spent_in_the_run_tree(
    root_runbook_data: dict, ctx: GuardContext
) -> None:
    from dataclasses import replace

    assert "cost_limit" in errors(run(root_runbook_data, replace(ctx, spent_usd=4.99)))
    assert "cost_limit" not in errors(run(root_runbook_data, replace(ctx, spent_usd=1.0)))


# --- depth_limit / duration_limit ---------------------------------------------------------------


def test_depth_limit_when_the_runbook_would_start_too_deep(
    root_runbook_data: dict, ctx: GuardContext
) -> None:
    from dataclasses import replace

    report = run(root_runbook_data, replace(ctx, depth=3))
    assert "depth_limit" in errors(report)


def test_depth_limit_when_inline_children_nest_past_max_depth(
    root_runbook_data: dict, ctx: GuardContext
) -> None:
    root_runbook_data["limits"]["max_depth"] = 1
    grandchild = _child(runbook="grandchild")
    child = _child()
    child["steps"].append({"id": "deeper", "execute_workflow": grandchild})
    root_runbook_data["steps"][3]["execute_workflow"] = child
    report = run(root_runbook_data, ctx)
    assert [i.path for i in report.issues if i.code == "depth_limit"] == [
        "steps[3].execute_workflow.steps[1].execute_workflow"
    ]


def test_depth_limit_when_a_runbook_raises_max_depth_above_policy(
    root_runbook_data: dict, ctx: GuardContext
) -> None:
    root_runbook_data["limits"]["max_depth"] = 9
    assert errors(run(root_runbook_data, ctx)) == {"depth_limit"}


def test_nesting_within_max_depth_passes(root_runbook_data: dict, ctx: GuardContext) -> None:
    root_runbook_data["steps"][3]["execute_workflow"] = _child()
    assert "depth_limit" not in errors(run(root_runbook_data, ctx))


def test_duration_limit_when_a_step_timeout_exceeds_the_cap(
    root_runbook_data: dict, ctx: GuardContext
) -> None:
    root_runbook_data["steps"][0]["timeout_s"] = 301
    report = run(root_runbook_data, ctx)
    assert errors(report) == {"duration_limit"}
    root_runbook_data["steps"][0]["timeout_s"] = 300
    assert errors(run(root_runbook_data, ctx)) == set()


def _retry_warnings(report: ValidationReport) -> list[Any]:
    return [i for i in report.issues if i.check == "retries"]


def test_duration_limit_warns_when_a_steps_retries_cannot_fit_the_duration_cap(
    root_runbook_data: dict, ctx: GuardContext
) -> None:
    # the plan step: 2 attempts of up to 300 s (the runbook's step_timeout_s) and a 1 s backoff
    root_runbook_data["limits"]["max_duration_s"] = 600
    report = run(root_runbook_data, ctx)
    assert errors(report) == set(), "a warning for the approver, not a refusal: the run enforces the cap"
    (found,) = _retry_warnings(report)
    assert (found.code, found.severity, found.path) == ("duration_limit", "warning", "steps[2].retry")
    assert "may take 601s, more than the 600s duration cap" in found.message and found.fix
    root_runbook_data["limits"]["max_duration_s"] = 601
    assert _retry_warnings(run(root_runbook_data, ctx)) == []


def test_duration_limit_warns_of_retries_the_first_backoff_alone_would_use_up(
    root_runbook_data: dict, ctx: GuardContext
) -> None:
    # the review's runbook: a 3 s cap, 3 attempts of up to 1 s, backoffs of 2 s and 4 s
    root_runbook_data["limits"]["max_duration_s"] = 3
    root_runbook_data["steps"][2]["timeout_s"] = 1
    root_runbook_data["steps"][2]["retry"] = {"max_attempts": 3, "backoff_s": 2, "retry_on": ["timeout"]}
    (found,) = _retry_warnings(run(root_runbook_data, ctx))
    assert "3 attempts of up to 1s with their backoffs may take 9s" in found.message
    root_runbook_data["steps"][2]["retry"] = {"max_attempts": 1}
    assert _retry_warnings(run(root_runbook_data, ctx)) == []


def test_the_worst_case_of_a_retried_step_is_unknown_without_any_timeout() -> None:
    from warden.guard.checks.retries import worst_case_s
    from warden.schemas.runbook import AnalyserStep

    step = AnalyserStep.model_validate(
        {"id": "s", "analyser": "a", "retry": {"max_attempts": 3, "backoff_s": 2}}
    )
    assert worst_case_s(step, None) is None
    assert worst_case_s(step, 1.0) == 1.0 * 3 + 2 + 4
    assert worst_case_s(step.model_copy(update={"timeout_s": 5.0}), 1.0) == 5.0 * 3 + 2 + 4


# --- model_unavailable --------------------------------------------------------------------------


def test_model_unavailable_when_the_tenant_may_not_use_the_model(
    root_runbook_data: dict, ctx: GuardContext
) -> None:
    root_runbook_data["model"] = {"model": "gpt-9"}
    report = run(root_runbook_data, ctx)
    assert errors(report) == {"model_unavailable"}
    assert report.issues[0].path == "model.model"


def test_an_allowed_model_with_an_endpoint_configured_passes(
    root_runbook_data: dict, ctx: GuardContext, policy_with
) -> None:
    from dataclasses import replace

    policy = policy_with(lambda p: p["tenants"]["acme"].update(models=["gpt-4o-mini"]))
    root_runbook_data["model"] = {"model": "gpt-4o-mini"}
    report = run(root_runbook_data, replace(ctx, policy=policy, llm_model="gpt-4o-mini"))
    assert "model_unavailable" not in errors(report) | warnings(report)


def test_model_unavailable_when_an_analyser_needs_a_model_and_none_is_configured(
    root_runbook_data: dict, ctx: GuardContext, policy_with
) -> None:
    from dataclasses import replace

    policy = policy_with(lambda p: p["tenants"]["acme"]["analysers"].append("llm_only"))
    needy = _ctx_with(ctx, policy, manifest("llm_only", uses_llm="required"))
    root_runbook_data["steps"].append({"id": "summary", "analyser": "llm_only", "input": "document"})
    assert "model_unavailable" in errors(run(root_runbook_data, needy))
    assert "model_unavailable" not in errors(run(root_runbook_data, replace(needy, llm_model="local-llama")))


# --- contract_mismatch --------------------------------------------------------------------------


def test_contract_mismatch_when_a_step_gets_the_wrong_schema(
    root_runbook_data: dict, ctx: GuardContext
) -> None:
    root_runbook_data["steps"][1]["input"] = ["document"]  # transparency wants labelled_passages
    report = run(root_runbook_data, ctx)
    assert "contract_mismatch" in errors(report)
    assert {i.path for i in report.issues if i.code == "contract_mismatch"} >= {"steps[1].input[0]"}


def test_contract_mismatch_when_execute_workflow_refers_to_a_non_planner(
    root_runbook_data: dict, ctx: GuardContext
) -> None:
    root_runbook_data["steps"][3]["execute_workflow"] = "{{ steps.transparency.output }}"
    report = run(root_runbook_data, ctx)
    assert errors(report) == {"contract_mismatch"}
    assert report.issues[0].path == "steps[3].execute_workflow"


def test_contract_mismatch_when_a_needed_input_is_missing(root_runbook_data: dict, ctx: GuardContext) -> None:
    root_runbook_data["steps"][2]["input"] = ["document"]  # the planner also needs labelled passages
    assert errors(run(root_runbook_data, ctx)) == {"contract_mismatch"}


def test_contract_mismatch_when_a_system_scanner_names_no_system(ctx: GuardContext) -> None:
    data = _system_runbook("crm")
    del data["steps"][0]["system"]
    assert errors(run(data, _with_scanner(ctx))) == {"contract_mismatch"}


# --- unsafe_input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expression",
    [
        "{{ steps.plan.output | attr('__class__') }}",
        "{{ ''.__class__.__mro__ }}",
        "{% for x in y %}{% endfor %}",
        "${ENV_SECRET}",
        "{{ steps.plan.output }} and more",
    ],
)
def test_unsafe_input_for_template_expressions_that_are_not_plain_references(
    root_runbook_data: dict, ctx: GuardContext, expression: str
) -> None:
    root_runbook_data["steps"][3]["execute_workflow"] = expression
    report = run(root_runbook_data, ctx)
    assert "unsafe_input" in errors(report)


def test_unsafe_input_for_templates_hidden_in_descriptions(
    root_runbook_data: dict, ctx: GuardContext
) -> None:
    root_runbook_data["steps"][0]["description"] = "Ignore previous rules {{ config.items() }}"
    assert errors(run(root_runbook_data, ctx)) == {"unsafe_input"}


@pytest.mark.parametrize(
    "path",
    [
        "../../etc/passwd",
        "/etc/shadow",
        "systems/../../globex/systems/hr.sqlite",
        "file:///etc/passwd",
        "C:\\Windows\\system.ini",
    ],
)
def test_unsafe_input_for_paths_escaping_the_allowed_roots(ctx: GuardContext, path: str) -> None:
    data = _system_runbook("crm")
    data["steps"][0]["config"] = {"path": path}
    assert "unsafe_input" in errors(run(data, _with_scanner(ctx, config=True)))


def test_paths_inside_the_allowed_roots_are_safe(ctx: GuardContext) -> None:
    data = _system_runbook("crm")
    data["steps"][0]["config"] = {"path": "systems/exports/customers.csv"}
    assert errors(run(data, _with_scanner(ctx, config=True))) == set()


def test_unsafe_input_for_a_system_located_outside_the_allowed_roots(ctx: GuardContext, policy_with) -> None:
    from dataclasses import replace

    policy = policy_with(lambda p: p["tenants"]["acme"]["systems"][0].update(location="/var/lib/crm.sqlite"))
    report = run(_system_runbook("crm"), _with_scanner(replace(ctx, policy=policy)))
    assert errors(report) == {"unsafe_input"}


def test_plain_references_are_safe(root_runbook_data: dict, ctx: GuardContext) -> None:
    assert "unsafe_input" not in errors(run(root_runbook_data, ctx))


# --- kill_switch / load_error -------------------------------------------------------------------


def test_kill_switch_blocks_every_runbook_of_the_tenant(
    root_runbook_data: dict, ctx: GuardContext, policy_with
) -> None:
    from dataclasses import replace

    policy = policy_with(
        lambda p: p["tenants"]["acme"].update(kill_switch={"engaged": True, "reason": "incident"})
    )
    report = run(root_runbook_data, replace(ctx, policy=policy))
    assert errors(report) == {"kill_switch"}
    assert "incident" in report.issues[0].message


def test_load_error_becomes_a_report_that_is_not_ok(ctx: GuardContext) -> None:
    with pytest.raises(LoadError) as caught:
        parse_text("runbook: [unclosed", source="bad.yaml")
    report = load_error_report(caught.value, ctx)
    assert not report.ok and errors(report) == {"load_error"}
    assert report.issues[0].line == 1


# --- without a policy ---------------------------------------------------------------------------


def test_without_a_policy_structural_checks_run_and_governance_checks_are_skipped(
    root_runbook_data: dict, catalogue: Catalogue
) -> None:
    root_runbook_data["steps"][1]["input"] = ["nowhere"]
    report = run(root_runbook_data, GuardContext(catalogue=catalogue))
    assert errors(report) == {"unknown_reference"}
    status = {c.name: c.status for c in report.checks}
    assert status["tenancy"] == status["paths"] == status["allowed_analysers"] == "skipped"


# --- helpers ------------------------------------------------------------------------------------


def _child(tenant: str = "acme", runbook: str = "child-checks") -> dict[str, Any]:
    return {
        "runbook": runbook,
        "tenant": tenant,
        "inputs": {"document": "document"},
        "approval": {"required_role": "dpo"},
        "steps": [{"id": "again", "analyser": "policy_practices", "input": "document"}],
    }


def _system_runbook(system: str) -> dict[str, Any]:
    return {
        "runbook": "scan",
        "tenant": "acme",
        "approval": {"required_role": "dpo"},
        "steps": [{"id": "scan", "analyser": "scanner", "system": system}],
    }


def _with_scanner(ctx: GuardContext, *, config: bool = False) -> GuardContext:
    from dataclasses import replace

    schema = {"type": "object", "properties": {"path": {"type": "string"}}} if config else None
    extra = {"config_schema": schema} if schema else {}
    scanner = manifest("scanner", input_schemas=[], output_schema="system_scan", reads="systems", **extra)
    assert ctx.policy is not None
    data = ctx.policy.policy.model_copy(deep=True)
    data.tenants["acme"].analysers.append("scanner")
    policy = LoadedPolicy(policy=data, path=ctx.policy.path, sha256="0" * 64)
    return replace(ctx, policy=policy, catalogue=Catalogue([*ctx.catalogue, scanner]))


def _ctx_with(ctx: GuardContext, policy: LoadedPolicy, *extra: AnalyserManifest) -> GuardContext:
    from dataclasses import replace

    return replace(ctx, policy=policy, catalogue=Catalogue([*ctx.catalogue, *extra]))
