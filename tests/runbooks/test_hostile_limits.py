"""Limits at the edges of what the schema accepts: a runbook that passes the guard must run.

Found by fuzzing: under a policy that sets no step timeout, a step with ``timeout_s: .inf`` (or
1e10) passed the guard and the approval, then failed every attempt with OverflowError from the
thread wait, and a version past 2**31 passed the guard and crashed the store's INTEGER column,
leaving the run 'running' forever.
"""

from __future__ import annotations

import copy
import time

import pytest

from warden.errors import LoadError
from warden.graph.executor import call_with_timeout
from warden.guard import GuardContext, validate
from warden.runbooks import runbook_from_data
from warden.safeload import parse_text, plain_data_problem


@pytest.mark.parametrize("timeout_s", [float("inf"), 1e10, 1e300])
def test_a_timeout_longer_than_a_thread_can_wait_means_no_timeout(timeout_s):
    # not instant: a finished future returns without the wait that overflowed
    assert call_with_timeout(lambda: time.sleep(0.05) or 42, timeout_s) == 42


def test_a_long_but_expressible_timeout_still_waits_for_the_result():
    assert call_with_timeout(lambda: time.sleep(0.05) or "done", 1e9) == "done"


def test_an_infinite_step_timeout_passes_the_guard_under_a_policy_without_caps(
    root_runbook_data, catalogue, acme_policy
):
    """The case the executor fix is for is reachable: the guard lets it through."""
    data = copy.deepcopy(root_runbook_data)
    data["limits"] = {"max_depth": 2}
    data["steps"][0]["timeout_s"] = float("inf")
    policy = acme_policy.policy.model_copy(deep=True)
    policy.limits = type(policy.limits)(max_depth=3)
    policy.tenants["acme"].limits = type(policy.limits)()
    loaded = type(acme_policy)(policy=policy, path=acme_policy.path, sha256="0" * 64)
    report = validate(
        runbook_from_data(data), GuardContext(catalogue=catalogue, policy=loaded, tenant="acme")
    )
    assert report.ok, report.issues


@pytest.mark.parametrize(("version", "ok"), [(2**31 - 1, True), (2**31, False), (2**40, False)])
def test_a_runbook_version_must_fit_the_stores_integer_column(root_runbook_data, version, ok):
    data = copy.deepcopy(root_runbook_data)
    data["version"] = version
    if ok:
        assert runbook_from_data(data).version == version
    else:
        with pytest.raises(LoadError, match="less than or equal to 2147483647"):
            runbook_from_data(data)


@pytest.mark.parametrize("text", ["10" + "0" * 30, "0x" + "f" * 17, "-9223372036854775809", "0b1" + "0" * 63])
def test_an_integer_past_64_bits_is_refused_on_load_with_its_line(text):
    """The run's checkpoint (msgpack) cannot hold it: the run crashed and stayed 'running'."""
    with pytest.raises(LoadError) as info:
        parse_text(f"runbook: x\nlimits:\n  max_depth: {text}\n")
    assert info.value.code == "too_large"
    assert info.value.line == 3


def test_integers_at_the_64_bit_edges_load():
    parsed = parse_text("a: 9223372036854775807\nb: -9223372036854775808\n")
    assert parsed.data == {"a": 2**63 - 1, "b": -(2**63)}


def test_data_from_elsewhere_gets_the_same_64_bit_bound():
    assert plain_data_problem({"steps": [{"config": {"n": 2**63}}]})[2] == "too_large"
    assert plain_data_problem({"steps": [{"config": {"n": 2**63 - 1}}]}) is None
