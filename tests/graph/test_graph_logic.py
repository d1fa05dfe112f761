"""The pure logic under the graph: who may decide, auto-approval, order, diffs, retries."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from _wardencli import PLUGINS, acme_policy_data, auto_rule, runbook, slow, write_yaml

from warden.catalogue import PATH_ENV, Catalogue
from warden.errors import LoadError
from warden.governance import LoadedPolicy, load_policy
from warden.governance.approval_rules import decision_error, matching_auto_rule
from warden.graph.executor import StepTimeout, call_with_retries, call_with_timeout
from warden.graph.order import execution_order
from warden.runbooks.diff import change_summary, diff_runbooks
from warden.schemas.approval import ApprovalDecision
from warden.schemas.runbook import RetryPolicy, RunbookDefinition

SHA = "a" * 64


def rb(data: dict[str, Any]) -> RunbookDefinition:
    return RunbookDefinition.model_validate(data)


def decision(**fields: Any) -> ApprovalDecision:
    base = {"decision": "approve", "approver": "dora@acme", "role": "dpo", "runbook_sha256": SHA}
    return ApprovalDecision.model_validate({**base, **fields})


def error(policy: LoadedPolicy, d: ApprovalDecision, requester: str = "ana@acme") -> str | None:
    return decision_error(
        d, policy=policy, tenant="acme", requester=requester, required_role="dpo", draft_sha256=SHA
    )


def policy_with(tmp_path: Path, **tenant_changes: Any) -> LoadedPolicy:
    return load_policy(write_yaml(tmp_path / "policy.yaml", acme_policy_data(**tenant_changes)))


# decision_error


def test_a_dpo_of_the_tenant_may_approve_the_reviewed_draft(acme_policy: LoadedPolicy) -> None:
    assert error(acme_policy, decision()) is None


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"approver": "gwen@globex"}, "is not a user of tenant 'acme'"),
        ({"approver": "ana@acme", "role": "dpo"}, "does not hold role 'dpo'"),
        ({"approver": "ana@acme", "role": "analyst"}, "needs approval by role 'dpo', not 'analyst'"),
        ({"runbook_sha256": "b" * 64}, "sha256 mismatch"),
    ],
)
def test_a_decision_by_the_wrong_person_role_or_for_another_draft_is_refused(
    acme_policy: LoadedPolicy, fields: dict[str, Any], expected: str
) -> None:
    assert expected in (error(acme_policy, decision(**fields)) or "")


def test_the_requester_may_not_approve_their_own_run_unless_the_policy_allows_it(tmp_path: Path) -> None:
    strict = policy_with(tmp_path)
    assert "may not approve it" in (error(strict, decision(), requester="dora@acme") or "")
    lenient = policy_with(tmp_path, approval={"required_roles": ["dpo"], "allow_self_approval": True})
    assert error(lenient, decision(), requester="dora@acme") is None


# matching_auto_rule


def test_an_auto_rule_approves_only_drafts_within_its_runbooks_analysers_cost_and_depth(
    tmp_path: Path,
) -> None:
    rule = {**auto_rule("small", ["tiny"], max_depth=1, max_cost_usd=0.1), "analysers": ["wtest_slow"]}
    policy = policy_with(tmp_path, approval={"auto_approve": [rule]})
    tiny = rb(runbook("tiny", [slow("a")]))

    def match(book: RunbookDefinition, depth: int = 0, cost: float = 0.0) -> str | None:
        found = matching_auto_rule(book, policy=policy, tenant="acme", depth=depth, cost_estimate_usd=cost)
        return found.name if found else None

    assert match(tiny) == "small"
    assert match(tiny, depth=1, cost=0.1) == "small"
    assert match(tiny, depth=2) is None
    assert match(tiny, cost=0.11) is None
    assert match(rb(runbook("other", [slow("a")]))) is None
    assert match(rb(runbook("tiny", [slow("a"), {"id": "b", "analyser": "wtest_costly"}]))) is None
    kid = runbook("kid", [{"id": "x", "analyser": "zz"}])
    inline = runbook("tiny", [{"id": "c", "execute_workflow": kid}])
    assert match(rb(inline)) is None, "analysers of inline children count too"


def test_without_a_rule_every_draft_waits_for_a_human(acme_policy: LoadedPolicy) -> None:
    book = rb(runbook("tiny", [slow("a")]))
    assert matching_auto_rule(book, policy=acme_policy, tenant="acme", depth=0, cost_estimate_usd=0) is None


# execution_order


def test_steps_run_after_their_inputs_and_otherwise_in_runbook_order() -> None:
    book = rb(
        runbook(
            "order",
            [
                {"id": "report", "analyser": "gdpr_transparency", "input": ["labels"]},
                slow("independent"),
                {"id": "labels", "analyser": "policy_practices", "input": ["document"]},
                {"id": "plan", "analyser": "policy_to_runbook", "input": ["document", "labels"]},
                {"id": "checks", "execute_workflow": "{{ steps.plan.output }}"},
            ],
        )
    )
    assert execution_order(book) == ["independent", "labels", "report", "plan", "checks"]


# change_summary and diff_runbooks


def test_the_first_approved_version_is_summarised_and_diffed_as_all_new() -> None:
    new = rb(runbook("r", [slow("a"), slow("b")]))
    assert change_summary(None, new) == "first approved version: 2 step(s)"
    diff = diff_runbooks(None, new)
    assert diff.startswith("--- (no approved version)\n+++ draft\n")
    assert all(line.startswith(("+", "@", "-")) for line in diff.splitlines())


def test_a_changed_runbook_lists_added_removed_and_changed_steps_and_fields() -> None:
    old = rb(runbook("r", [slow("a"), slow("b")]))
    new = rb(runbook("r", [slow("a", seconds=1), slow("c")], description="now with c", version=2))
    assert change_summary(old, new) == (
        "added step(s) c; removed step(s) b; changed step(s) a; changed description"
    )
    diff = diff_runbooks(old, new)
    assert diff.startswith("--- approved v1\n+++ draft\n")
    assert "-  id: b" in diff or "-- id: b" in diff
    assert change_summary(old, old) == "no change"
    assert diff_runbooks(old, old) == ""


# call_with_retries and call_with_timeout


class FakeClock:
    def __init__(self) -> None:
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


def flaky(failures: int, exc: type[Exception] = RuntimeError):
    calls: list[int] = []

    def fn(attempt: int) -> str:
        calls.append(attempt)
        if attempt <= failures:
            raise exc(f"attempt {attempt}")
        return f"ok on {attempt}"

    return fn, calls


def test_retries_back_off_by_the_multiplier_until_an_attempt_succeeds() -> None:
    clock, failures = FakeClock(), []
    fn, calls = flaky(3)
    retry = RetryPolicy(max_attempts=4, backoff_s=0.5, backoff_multiplier=3)
    out = call_with_retries(fn, retry, None, sleep=clock.sleep, on_failure=lambda n, e: failures.append(n))
    assert out == "ok on 4"
    assert calls == [1, 2, 3, 4]
    assert clock.slept == [0.5, 1.5, 4.5]
    assert failures == [1, 2, 3]


def test_the_last_error_is_raised_when_attempts_run_out() -> None:
    clock = FakeClock()
    fn, calls = flaky(5)
    with pytest.raises(RuntimeError, match="attempt 2"):
        call_with_retries(fn, RetryPolicy(max_attempts=2, backoff_s=1), None, sleep=clock.sleep)
    assert calls == [1, 2] and clock.slept == [1]


def test_errors_outside_retry_on_fail_at_once() -> None:
    clock = FakeClock()
    fn, calls = flaky(1)
    with pytest.raises(RuntimeError):
        call_with_retries(fn, RetryPolicy(max_attempts=3, retry_on=["timeout"]), None, sleep=clock.sleep)
    assert calls == [1] and clock.slept == []


def test_a_timed_out_attempt_is_retried_and_reported_as_a_timeout() -> None:
    clock, kinds = FakeClock(), []

    def fn(attempt: int) -> str:
        if attempt == 1:
            time.sleep(0.5)
        return "fast"

    retry = RetryPolicy(max_attempts=2, retry_on=["timeout"])
    out = call_with_retries(fn, retry, 0.05, sleep=clock.sleep, on_failure=lambda n, e: kinds.append(type(e)))
    assert out == "fast" and kinds == [StepTimeout]


def test_call_with_timeout_returns_in_time_and_gives_up_when_late() -> None:
    assert call_with_timeout(lambda: 7, None) == 7
    assert call_with_timeout(lambda: 7, 5) == 7
    started = time.perf_counter()
    with pytest.raises(StepTimeout, match=r"no result within 0\.05s"):
        call_with_timeout(lambda: time.sleep(0.5), 0.05)
    assert time.perf_counter() - started < 0.4


# the catalogue's extra folders


def test_warden_analyser_path_adds_analysers_from_folders(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PATH_ENV, raising=False)
    assert "wtest_slow" not in Catalogue.discover()
    monkeypatch.setenv(PATH_ENV, str(PLUGINS))
    found = Catalogue.discover()
    assert {"wtest_slow", "wtest_scan", "wtest_costly", "wtest_emit"} <= set(found.names())
    assert "policy_practices" in found, "the built-in analysers stay"
    run = found.load("wtest_emit")
    assert run({}, {"runbook": {"runbook": "x"}}, None) == {"runbook": "x"}


def test_warden_analyser_path_naming_a_missing_folder_is_an_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(PATH_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(LoadError, match="do not exist"):
        Catalogue.discover()
