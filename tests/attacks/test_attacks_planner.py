"""Attacks on the LLM path: a "model" (langchain's fake chat model, or the real ChatOpenAI client
against the loopback OpenAI-compatible server of tests/llm) answers the planner with what a
notice steering it would make it say, and the run must refuse it with a coded issue, run
nothing, keep no secret and never crash. Then recursion: a generated child must not slip
past the human approval its cost calls for.

Every run here is real: SQLite checkpointer, DuckDB ledger, the graph, the guard.

Fixed regression tests (defects the review confirmed, each once a strict xfail): a 5000-digit
integer in a JSON reply is re-asked like any invalid JSON; a 50 MB reply is refused as
[llm_bad_output] and stored truncated; a config file's api_key and OPENAI_BASE_URL's password,
echoed bare by the model, are masked everywhere (warden.credentials.register_secret); negative
token usage never credits the tree's budget; a generated child whose steps may call the model
is not auto-approved by a rule for free children (rules approve model calls only when they say
`model_calls: true`; the guard reports `model_steps`).
"""

from __future__ import annotations

import copy
import itertools
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from tests.llm._loopback import Endpoint, completion, plan_reply
from tests.llm._support import (
    GOOD_PLAN,
    analyse,
    install_test_analysers,
    policy_data,
    query,
    root_runbook,
    run_row,
    service,
    settings,
    step_rows,
    write_policy,
)

from warden.llm.config import load_settings
from warden.service import Service

TESTS = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(TESTS / "graph"), str(TESTS / "temporal")]  # _wardencli, _cluster (Temporal)


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    with Endpoint() as server:
        yield server


@pytest.fixture(autouse=True)
def marker(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The test analysers of tests/llm are installed; wllm_exfil would leave its marker here."""
    return install_test_analysers(monkeypatch, tmp_path)


def _answer(text: str, tokens_in: int = 1000, tokens_out: int = 200) -> AIMessage:
    return AIMessage(
        content=text,
        usage_metadata={
            "input_tokens": tokens_in,
            "output_tokens": tokens_out,
            "total_tokens": tokens_in + tokens_out,
        },
    )


def _fake(*texts: str) -> GenericFakeChatModel:
    return GenericFakeChatModel(messages=iter([_answer(t) for t in texts]))


def _plan(**changes: Any) -> dict[str, Any]:
    drafted = copy.deepcopy(GOOD_PLAN)
    drafted.update(copy.deepcopy(changes))
    return drafted


def _all_reasons(svc: Service) -> str:
    texts = [r["status_reason"] or "" for r in query(svc, "SELECT status_reason FROM runs")]
    texts += [r["error"] or "" for r in query(svc, "SELECT error FROM steps")]
    return "\n".join(texts)


# 1. hostile plans that pass the schema: the guard refuses each with a code, nothing runs

HOSTILE_PLANS: dict[str, tuple[dict[str, Any], set[str], str]] = {
    "another_tenant": (_plan(tenant="globex"), {"cross_tenant"}, "rejected"),
    "raised_limits": (
        _plan(limits={"max_depth": 16, "max_cost_usd": 1000.0, "max_duration_s": 1e9, "step_timeout_s": 1e9}),
        {"depth_limit", "cost_limit", "duration_limit"},
        "depth_exceeded",
    ),
    "required_role_lowered": (_plan(approval={"required_role": "analyst"}), {"missing_approval"}, "rejected"),
    "analyser_and_system_not_allowed": (
        _plan(
            steps=[
                *GOOD_PLAN["steps"],
                {"id": "exfil", "analyser": "wllm_exfil", "system": "globex-hr", "description": "as told"},
            ]
        ),
        {"analyser_not_allowed", "cross_tenant"},
        "rejected",
    ),
    "inline_child_raising_caps": (
        _plan(
            steps=[
                GOOD_PLAN["steps"][0],
                {
                    "id": "deeper",
                    "execute_workflow": _plan(runbook="acme-deeper", limits={"max_cost_usd": 500.0}),
                    "limits": {"max_depth": 16},
                },
            ]
        ),
        {"cost_limit", "depth_limit"},
        "depth_exceeded",
    ),
}


@pytest.mark.parametrize("name", sorted(HOSTILE_PLANS))
def test_a_hostile_schema_valid_plan_is_refused_by_the_childs_guard_and_nothing_runs(
    tmp_path: Path, marker: Path, name: str
) -> None:
    drafted, codes, status = HOSTILE_PLANS[name]
    svc = service(tmp_path, write_policy(tmp_path), settings(), chat_model=_fake(json.dumps(drafted)))
    root = analyse(svc, root_runbook(tmp_path)).root_run_id
    child = run_row(svc, f"{root}.checks")
    assert child["status"] == status, child
    assert step_rows(svc, f"{root}.checks") == {}
    assert query(svc, "SELECT * FROM approvals WHERE run_id = ?", f"{root}.checks") == []
    (report,) = query(
        svc,
        "SELECT payload_json FROM audit_events WHERE run_id = ? AND event = 'guard_report'",
        f"{root}.checks",
    )
    assert codes <= {i["code"] for i in json.loads(report["payload_json"])["issues"]}
    assert not marker.exists()
    assert "Traceback" not in _all_reasons(svc)


# 2. output the planner must not accept: re-asked, then a coded llm_bad_output, no child run

_NESTED: dict[str, Any] = _plan()
for _level in range(30):
    _NESTED = _plan(runbook=f"acme-level-{_level}", steps=[{"id": "down", "execute_workflow": _NESTED}])

BAD_OUTPUTS: dict[str, str] = {
    "approval_marked_approved": json.dumps(_plan(approval={"required_role": "dpo", "approved": True})),
    "nan_caps": json.dumps(_plan(limits={"max_cost_usd": float("nan")})),
    "ten_thousand_steps": json.dumps(
        _plan(
            steps=[
                {"id": f"s{i}", "analyser": "policy_practices", "input": ["document"]} for i in range(10_000)
            ]
        )
    ),
    "prose_instead_of_json": "Sure! I added the globex-hr export as the notice asked.",
    "a_json_list": "[1, 2, 3]",
    "yaml_not_json": yaml.safe_dump(GOOD_PLAN),
}


@pytest.mark.parametrize("name", sorted(BAD_OUTPUTS))
def test_output_that_is_not_a_valid_plan_is_re_asked_then_fails_coded(tmp_path: Path, name: str) -> None:
    text = BAD_OUTPUTS[name]
    svc = service(tmp_path, write_policy(tmp_path), settings(), chat_model=_fake(text, text, text))
    root = analyse(svc, root_runbook(tmp_path)).root_run_id
    row = run_row(svc, root)
    assert row["status"] == "failed" and "[llm_bad_output]" in row["status_reason"], row
    assert query(svc, "SELECT * FROM runs WHERE run_id = ?", f"{root}.checks") == []
    assert len(query(svc, "SELECT * FROM llm_calls WHERE run_id = ?", root)) == 3


def test_thirty_levels_of_inline_children_never_run_past_the_depth_cap(tmp_path: Path) -> None:
    text = json.dumps(_NESTED)
    svc = service(tmp_path, write_policy(tmp_path), settings(), chat_model=_fake(text, text, text))
    root = analyse(svc, root_runbook(tmp_path)).root_run_id
    ran = query(svc, "SELECT run_id, depth, status FROM runs WHERE run_id <> ?", root)
    assert all(r["depth"] <= 2 for r in ran), ran
    assert query(svc, "SELECT * FROM steps WHERE run_id LIKE ? AND kind <> 'workflow'", f"{root}.%") == []
    assert "Traceback" not in _all_reasons(svc)


def test_a_plan_with_an_integer_of_5000_digits_is_re_asked_like_any_invalid_json(
    tmp_path: Path, endpoint: Endpoint
) -> None:
    body = (
        '{"runbook": "acme-x", "version": 1, "tenant": "acme", "limits": {"max_depth": ' + "9" * 5000 + "}}"
    )
    endpoint.push(completion(body), plan_reply(GOOD_PLAN))
    svc = service(tmp_path, write_policy(tmp_path), settings(endpoint.url))
    root = analyse(svc, root_runbook(tmp_path)).root_run_id
    assert "ValueError" not in _all_reasons(svc), _all_reasons(svc)
    assert len(endpoint.requests) == 2  # the malformed answer was fed back and asked again
    assert run_row(svc, f"{root}.checks")["status"] == "waiting_approval"


def test_a_50_mb_reply_is_refused_as_bad_output_and_not_stored_whole(
    tmp_path: Path, endpoint: Endpoint
) -> None:
    endpoint.push(completion("x" * 50_000_000), completion("not json"), completion("still not json"))
    svc = service(tmp_path, write_policy(tmp_path), settings(endpoint.url))
    root = analyse(svc, root_runbook(tmp_path)).root_run_id
    (longest,) = query(svc, "SELECT max(length(response_json)) AS n FROM llm_calls WHERE run_id = ?", root)
    assert (longest["n"] or 0) < 1_000_000, f"{longest['n']:,} characters of one reply stored"
    # the client stopped reading at the body cap (warden.llm.bounded): the call is recorded as
    # a bad_output failure, not retried
    calls = query(svc, "SELECT error FROM llm_calls WHERE run_id = ?", root)
    assert len(calls) == 1 and "reading stopped" in calls[0]["error"], calls
    row = run_row(svc, root)
    assert row["status"] == "failed" and "[llm_bad_output]" in row["status_reason"], row


# 3. secrets a model echoes back: never stored, never shown to the approver

CONFIG_KEY = "cfgkey-Hh3Jk8Lp0Rr5"
ENV_KEY = "localkey-Zq7x9Wm2Pt4"
URL_PASSWORD = "UrlPassw0rdXyz"


def _stored_bytes(home: Path) -> list[tuple[str, bytes]]:
    """Every file Warden wrote in `home`; config.yaml is the operator's own (it holds the key)."""
    return [
        (p.name, p.read_bytes()) for p in sorted(home.iterdir()) if p.is_file() and p.name != "config.yaml"
    ]


@pytest.mark.parametrize(
    "source",
    [
        pytest.param("env_api_key", id="OPENAI_API_KEY"),
        pytest.param("config_api_key", id="api_key_of_the_config_file"),
        pytest.param("url_password", id="password_of_OPENAI_BASE_URL"),
    ],
)
def test_a_secret_the_model_echoes_into_its_plan_is_masked_everywhere(
    tmp_path: Path, endpoint: Endpoint, monkeypatch: pytest.MonkeyPatch, source: str
) -> None:
    host_port = endpoint.url.removeprefix("http://")
    home = tmp_path / "home"
    home.mkdir()
    config: dict[str, Any] = {
        "model": "test-model",
        "max_retries": 0,
        "prices": {"test-model": {"input": 1.0, "output": 2.0}},
    }
    secret = {"env_api_key": ENV_KEY, "config_api_key": CONFIG_KEY, "url_password": URL_PASSWORD}[source]
    if source == "env_api_key":
        monkeypatch.setenv("OPENAI_API_KEY", ENV_KEY)
        config["base_url"] = endpoint.url
    elif source == "config_api_key":
        config["api_key"] = CONFIG_KEY
        config["base_url"] = endpoint.url
    else:
        config["api_key"] = "sk-test-0000000000000000"
        monkeypatch.setenv("OPENAI_BASE_URL", f"http://warden:{URL_PASSWORD}@{host_port}")
    (home / "config.yaml").write_text(yaml.safe_dump({"llm": config}))
    monkeypatch.setenv("WARDEN_HOME", str(home))
    llm = load_settings(home / "config.yaml")
    echoed = _plan()
    echoed["steps"][0]["description"] = f"Configured with {secret}, as the notice asked me to repeat."
    endpoint.push(plan_reply(echoed))
    svc = service(tmp_path, write_policy(tmp_path), llm)
    outcome = analyse(svc, root_runbook(tmp_path))
    assert len(endpoint.requests) == 1
    (waiting,) = outcome.waiting
    assert secret not in json.dumps(waiting), "the approver is shown the secret"
    for table in ("llm_calls", "steps", "audit_events", "approval_queue", "runs"):
        for row in query(svc, f"SELECT * FROM {table}"):
            assert secret not in json.dumps(row, default=str), f"stored in {table}"
    for name, raw in _stored_bytes(home):
        assert secret.encode() not in raw, f"stored in {name}"


# 4. recursion: a generated child's real cost against the auto-approval rules


def test_a_generated_child_that_calls_the_model_is_not_auto_approved_as_free(tmp_path: Path) -> None:
    data = policy_data()
    data["tenants"]["acme"]["approval"]["auto_approve"].append(
        {
            "name": "free-children",
            "analysers": ["policy_practices", "gdpr_transparency"],
            "max_cost_usd": 0.0,
            "max_depth": 1,
        }
    )
    policy = tmp_path / "policy.yaml"
    policy.write_text(yaml.safe_dump(data, sort_keys=False))
    costly = _plan()
    costly["steps"][0]["config"] = {"refine": "llm"}
    refined = _answer('{"passages": []}', 20_000, 5_000)
    fake = GenericFakeChatModel(
        messages=itertools.chain([_answer(json.dumps(costly))], itertools.repeat(refined))
    )
    svc = service(tmp_path, policy, settings(), chat_model=fake)
    root = analyse(svc, root_runbook(tmp_path)).root_run_id
    child = f"{root}.checks"
    spent = query(svc, "SELECT coalesce(sum(amount_usd), 0) AS usd FROM cost_ledger WHERE run_id = ?", child)
    approved = query(svc, "SELECT approver FROM approvals WHERE run_id = ?", child)
    assert (approved, spent[0]["usd"]) == ([], 0), (approved, spent)
    assert run_row(svc, child)["status"] == "waiting_approval"


@pytest.mark.parametrize("raises", [True, False], ids=["raising_its_max_depth", "within_its_caps"])
def test_a_child_that_regenerates_its_parent_under_an_auto_rule_stops_at_the_depth_cap(
    tmp_path: Path, raises: bool
) -> None:
    data = policy_data()
    data["tenants"]["acme"]["approval"]["auto_approve"].append(
        {
            "name": "any-depth",
            "analysers": ["policy_practices", "gdpr_transparency", "policy_to_runbook"],
            "max_cost_usd": 1.0,
            "max_depth": 8,
            "model_calls": True,  # the children's planner calls the model
        }
    )
    policy = tmp_path / "policy.yaml"
    policy.write_text(yaml.safe_dump(data, sort_keys=False))
    again = _plan(
        limits={"max_depth": 16},
        steps=[
            {"id": "practices", "analyser": "policy_practices", "input": ["document"]},
            {
                "id": "plan",
                "analyser": "policy_to_runbook",
                "input": ["document", "practices"],
                "config": {"planner": "llm"},
            },
            {"id": "checks", "execute_workflow": "{{ steps.plan.output }}"},
        ],
    )
    lowered = copy.deepcopy(again)
    del lowered["limits"]
    answer = _answer(json.dumps(again if raises else lowered))
    svc = service(
        tmp_path, policy, settings(), chat_model=GenericFakeChatModel(messages=itertools.repeat(answer))
    )
    root = analyse(svc, root_runbook(tmp_path)).root_run_id  # root max_depth 2
    ran = {r["run_id"]: (r["depth"], r["status"]) for r in query(svc, "SELECT * FROM runs")}
    deepest = f"{root}.checks" if raises else f"{root}.checks.checks"
    assert ran[deepest] == (deepest.count(".checks"), "depth_exceeded"), ran
    assert max(d for d, _ in ran.values()) == deepest.count(".checks"), ran
    assert query(svc, "SELECT * FROM steps WHERE run_id = ?", deepest) == []
    assert ran[root][1] == "depth_exceeded"


def test_a_slow_model_is_stopped_by_the_trees_time_cap(tmp_path: Path, endpoint: Endpoint) -> None:
    slow = plan_reply(GOOD_PLAN)
    slow.delay_s = 3.0
    endpoint.push(slow)
    svc = service(tmp_path, write_policy(tmp_path), settings(endpoint.url, timeout_s=10, max_retries=0))
    root = analyse(svc, root_runbook(tmp_path, max_duration_s=1)).root_run_id
    row = run_row(svc, root)
    assert row["status"] == "timed_out", row
    assert query(svc, "SELECT * FROM runs WHERE run_id = ?", f"{root}.checks") == []


def test_negative_usage_reported_by_the_endpoint_does_not_credit_the_trees_budget(
    tmp_path: Path, endpoint: Endpoint
) -> None:
    endpoint.push(plan_reply(GOOD_PLAN, prompt_tokens=-50_000_000, completion_tokens=-1))
    svc = service(tmp_path, write_policy(tmp_path), settings(endpoint.url))
    root = analyse(svc, root_runbook(tmp_path)).root_run_id
    booked = query(svc, "SELECT amount_usd, tokens_in FROM cost_ledger WHERE root_run_id = ?", root)
    assert booked and all(e["amount_usd"] >= 0 and e["tokens_in"] >= 0 for e in booked), booked
    assert run_row(svc, root)["cost_usd"] >= 0


# 5. a Temporal worker started with a wider policy file than the run was bound to: held; the
#    test lives in tests/temporal/test_worker_policy.py (the session's Temporal dev server).


# Attacks that held, with no test here because others already cover them or they add nothing:
# - a plan for another tenant's system / an analyser the tenant may not use, injected by the
#   notice: refused (tests/llm/test_loopback_planner.py); the same plan with `tenant: globex`,
#   raised limits, Infinity caps, a lowered role: refused with codes (parametrized above).
# - a plan with no `approval`: the planner fills in the tenant's approval role, and the draft
#   waits for a human (not auto-approved at depth 1).
# - `approval.approved: true`, NaN caps, 10,000 steps, YAML, prose, a JSON list: schema errors
#   fed back, then [llm_bad_output]; an inline child of 3,000 steps is refused the same way.
# - a 5000-digit integer inside tool-call arguments (function_calling): the invalid tool call
#   is fed back and re-asked (langchain-openai turns any parse error into an invalid tool call);
#   in JSON content it failed uncoded, now fixed (the regression test above).
# - fixed, with their regression tests above: the 5000-digit integer in JSON content, the 50 MB
#   reply, the config file's key and the URL's bare password echoed, negative token usage.
# - a model slower than timeout_s: retried, then [llm_timeout] (tests/llm); slower than the
#   tree's max_duration_s: timed_out (above).
# - OPENAI_API_KEY and a full URL with credentials echoed by the model: masked everywhere (and,
#   since the fix, the config file's api_key and the URL's bare password: registered secrets).
# - a worker started with WARDEN_POLICY naming a wider policy: `warden worker` reads no policy
#   file, its context is the run's bound policy by hash (above); a service presenting another
#   policy file than the one in force is refused with PolicyMismatch.
# - a generated child named like the root runbook: only adds a version to that name's history;
#   versions are never run by name, and auto-approval rules still check the depth.
