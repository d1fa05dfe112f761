"""The seam and its parts without a graph: settings, prices, the factory, budget checks,
retries with backoff, structured output parsing, and the replaying model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from _support import MODEL, settings
from langchain_core.exceptions import ModelAPIError, ModelAuthenticationError, ModelRateLimitError
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from warden.errors import UsageError
from warden.llm import BudgetExceeded, LlmError, LlmSession, ReplayMissing, call_structured, load_settings
from warden.llm.factory import chat_model
from warden.llm.failures import Failure, backoff_s
from warden.llm.pricing import PriceTable, estimate_prompt_tokens
from warden.llm.replay import ReplayChatModel
from warden.llm.structured import InvalidOutput, parse_structured
from warden.llm_config import configured_model

MESSAGES = [SystemMessage("rules"), HumanMessage("the question")]


class Scripted(BaseChatModel):
    """Raises or answers, in order; counts its calls."""

    script: list[Any]
    calls: int = 0

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def _generate(
        self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        self.calls += 1
        step = self.script.pop(0)
        if isinstance(step, BaseException):
            raise step
        return ChatResult(generations=[ChatGeneration(message=step)])


def _ok(content: str = "{}", tokens_in: int = 10, tokens_out: int = 5) -> AIMessage:
    return AIMessage(
        content=content,
        usage_metadata={
            "input_tokens": tokens_in,
            "output_tokens": tokens_out,
            "total_tokens": tokens_in + tokens_out,
        },
    )


# settings


def test_the_environment_wins_over_the_config_file_field_by_field(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("llm:\n  model: from-file\n  timeout_s: 9\n  max_retries: 1\nplanner: offline\n")
    loaded = load_settings(config, env={"WARDEN_LLM_MODEL": "from-env", "WARDEN_PLANNER": "auto"})
    assert (loaded.model, loaded.timeout_s, loaded.max_retries, loaded.planner) == ("from-env", 9, 1, "auto")
    assert loaded.source == f"{config} + environment"


def test_no_model_anywhere_means_offline_and_the_old_helper_agrees(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("WARDEN_HOME", str(tmp_path))
    assert load_settings().mode == "offline" and configured_model() is None
    monkeypatch.setenv("WARDEN_LLM_MODEL", "local-llama")
    assert configured_model() == "local-llama"


def test_a_config_file_with_unknown_keys_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("llm:\n  model: m\n  temprature: 0.2\n")
    with pytest.raises(UsageError) as raised:
        load_settings(config, env={})
    assert raised.value.code == "bad_config" and "temprature" in raised.value.message


# prices


def test_prices_match_exact_names_then_dated_snapshots_then_the_cautious_default() -> None:
    table = PriceTable.from_data({"local-llama": {"input": 0, "output": 0}})
    assert table.price_for("gpt-4o-mini")[0] == "gpt-4o-mini"
    assert table.price_for("gpt-4o-mini-2024-07-18")[0] == "gpt-4o-mini"
    assert table.price_for("gpt-4o-2024-08-06")[0] == "gpt-4o"
    assert table.cost("local-llama", 10**6, 10**6) == 0
    key, price = table.price_for("brand-new-model")
    assert key == "default" and price.input >= max(p.input for p in table.prices.values())
    assert table.cost("gpt-4o-mini", 1_000_000, 1_000_000) == pytest.approx(0.75)


def test_the_prompt_estimate_errs_high() -> None:
    text = "word " * 1000  # ~1000-1300 tokens in a real tokenizer
    assert estimate_prompt_tokens([text]) >= 1600


# the factory


def test_the_factory_builds_chat_completions_with_the_clients_own_retries_off() -> None:
    model = chat_model(settings("http://127.0.0.1:1/v1", timeout_s=12, max_output_tokens=77))
    assert (model.model_name, model.openai_api_base, model.request_timeout) == (
        MODEL,
        "http://127.0.0.1:1/v1",
        12,
    )
    assert model.use_responses_api is False and model.max_retries == 0 and model.max_tokens == 77
    assert model.root_client.max_retries == 0


def test_a_local_server_needs_no_key_but_openai_does() -> None:
    assert chat_model(settings("http://127.0.0.1:1/v1", api_key=None)).openai_api_key is not None
    with pytest.raises(UsageError) as raised:
        chat_model(settings(None, api_key=None))
    assert raised.value.code == "llm_no_key"


# budget and retries


def test_a_call_is_refused_before_the_model_when_its_estimate_passes_the_remaining_budget() -> None:
    model = Scripted(script=[_ok()])
    session = LlmSession(settings(max_output_tokens=1000), model=model, budget=lambda: 0.0001)
    with pytest.raises(BudgetExceeded) as raised:
        session.call(MESSAGES)
    assert model.calls == 0 and raised.value.code == "budget_exceeded"


def test_actual_usage_past_the_budget_is_recorded_then_stops_the_call() -> None:
    spent: list[float] = []
    session = LlmSession(
        settings(max_output_tokens=1),
        model=Scripted(script=[_ok(tokens_in=10**6, tokens_out=1)]),
        budget=lambda: 0.5 - sum(spent),
        recorder=lambda r: spent.append(r.cost_usd),
    )
    with pytest.raises(BudgetExceeded, match="past its cost cap"):
        session.call(MESSAGES)
    assert spent == [pytest.approx(1.0 + 2 / 10**6)]  # a zero output count would be booked at most


def test_transient_failures_back_off_exponentially_and_every_attempt_is_recorded() -> None:
    records, sleeps = [], []
    model = Scripted(script=[ModelRateLimitError("429"), ModelAPIError("503"), _ok()])
    session = LlmSession(
        settings(max_retries=2, backoff_s=0.5), model=model, recorder=records.append, sleep=sleeps.append
    )
    assert session.call(MESSAGES).content == "{}"
    assert sleeps == [0.5, 1.0]
    assert [(r.attempt, r.outcome) for r in records] == [(1, "rate_limited"), (2, "server_error"), (3, "ok")]
    assert len({r.request_hash for r in records}) == 1


def test_a_non_transient_failure_is_not_retried_and_is_coded() -> None:
    model = Scripted(script=[ModelAuthenticationError("bad key"), _ok()])
    session = LlmSession(settings(max_retries=3), model=model, sleep=lambda _: None)
    with pytest.raises(LlmError) as raised:
        session.call(MESSAGES)
    assert (
        model.calls == 1 and raised.value.code == "llm_auth" and "OPENAI_API_KEY" in (raised.value.fix or "")
    )


def test_backoff_honours_retry_after_and_is_capped() -> None:
    assert backoff_s(3, Failure("server_error", "x"), base_s=1, max_s=30) == 4
    assert backoff_s(1, Failure("rate_limited", "x", retry_after_s=7), base_s=1, max_s=30) == 7
    assert backoff_s(9, Failure("timeout", "x"), base_s=1, max_s=30) == 30


# structured output


def test_structured_output_is_parsed_from_fenced_json_or_from_the_tool_call() -> None:
    assert parse_structured(AIMessage(content='```json\n{"a": 1}\n```'), "thing")[0] == {"a": 1}
    call = AIMessage(content="", tool_calls=[{"name": "thing", "args": {"b": 2}, "id": "c1"}])
    assert parse_structured(call, "thing")[0] == {"b": 2}
    with pytest.raises(InvalidOutput, match="not valid JSON"):
        parse_structured(AIMessage(content="{b: 2"), "thing")


def test_an_integer_past_pythons_digit_limit_is_invalid_output_not_a_bare_value_error() -> None:
    with pytest.raises(InvalidOutput, match="a number is too long"):
        parse_structured(AIMessage(content='{"n": ' + "9" * 5000 + "}"), "thing")


def test_a_validator_rejection_is_fed_back_and_the_second_answer_accepted() -> None:
    fake = GenericFakeChatModel(messages=iter([_ok('{"n": -1}'), _ok('{"n": 3}')]))
    records: list[Any] = []

    def positive(data: Any) -> int:
        if data["n"] < 0:
            raise InvalidOutput(["n: must be positive"], json.dumps(data))
        return data["n"]

    session = LlmSession(settings(), model=fake, recorder=records.append)
    assert (
        call_structured(
            session, MESSAGES, schema={"type": "object"}, name="thing", validate=positive, purpose="test"
        )
        == 3
    )
    assert records[1].messages[-1]["content"].startswith("Your previous reply was not a valid thing")
    assert "n: must be positive" in records[1].messages[-1]["content"]


# replay


def test_the_replaying_model_answers_by_request_hash_and_refuses_what_was_not_recorded() -> None:
    records: list[Any] = []
    live = LlmSession(
        settings(),
        model=Scripted(script=[ModelRateLimitError("429"), _ok('{"x": 1}')]),
        recorder=records.append,
        sleep=lambda _: None,
    )
    live.call(MESSAGES, params={"response_format": {"type": "json_object"}})
    rows = [
        {"request_hash": r.request_hash, "outcome": r.outcome, "error": r.error, "response": r.response}
        for r in records
    ]
    replayer = ReplayChatModel.from_rows(rows, model=MODEL, max_tokens=4096, temperature=0.0)
    replayed: list[Any] = []
    again = LlmSession(settings(), model=replayer, recorder=replayed.append, replaying=True)
    answer = again.call(MESSAGES, params={"response_format": {"type": "json_object"}})
    assert answer.content == '{"x": 1}' and answer.usage_metadata["input_tokens"] == 10
    assert [r.outcome for r in replayed] == ["rate_limited", "ok"] and replayer.remaining() == 0
    assert all(r.cost_usd == 0 and r.replayed for r in replayed)
    with pytest.raises(ReplayMissing) as raised:
        again.call([HumanMessage("something else")])
    assert raised.value.code == "replay_missing"


@pytest.mark.parametrize("usage", [(-50_000_000, 10), (10, -1), (True, 5)])
def test_negative_or_non_integer_usage_is_bad_output_booked_at_the_most_the_call_could_cost(
    usage: tuple[Any, Any],
) -> None:
    answer = AIMessage(content="{}")
    answer.usage_metadata = {"input_tokens": usage[0], "output_tokens": usage[1], "total_tokens": 0}
    records: list[Any] = []
    session = LlmSession(settings(), model=Scripted(script=[answer]), recorder=records.append)
    with pytest.raises(LlmError) as refused:
        session.call(MESSAGES)
    assert refused.value.code == "llm_bad_output" and "invalid token usage" in refused.value.message
    (record,) = records
    assert record.outcome == "bad_output" and record.response is not None
    assert record.tokens_out == session.settings.max_output_tokens and record.tokens_in > 0
    assert record.cost_usd == pytest.approx(session.estimate_usd(MESSAGES))


def test_a_reply_longer_than_the_output_allowance_is_refused_and_kept_truncated() -> None:
    from warden.llm.session import KEPT_REPLY_CHARS, MAX_CHARS_PER_TOKEN, OversizedReply

    small = settings(max_output_tokens=100)
    limit = MAX_CHARS_PER_TOKEN * 100
    records: list[Any] = []
    fits = LlmSession(small, model=Scripted(script=[_ok("x" * limit)]), recorder=records.append)
    assert fits.call(MESSAGES).content == "x" * limit
    big = _ok("y" * (KEPT_REPLY_CHARS * 3))
    session = LlmSession(small, model=Scripted(script=[big]), recorder=records.append)
    with pytest.raises(OversizedReply) as refused:
        session.call(MESSAGES)
    assert refused.value.code == "llm_bad_output" and len(refused.value.raw) == KEPT_REPLY_CHARS
    stored = records[-1]
    assert stored.outcome == "bad_output" and stored.tokens_in == 10  # its usage is still billed
    assert stored.response == {
        "truncated": True,
        "chars": KEPT_REPLY_CHARS * 3,
        "kept_chars": KEPT_REPLY_CHARS,
        "content": "y" * KEPT_REPLY_CHARS,
    }


def test_an_oversized_reply_is_fed_back_truncated_and_asked_again() -> None:
    model = Scripted(script=[_ok("z" * 10_000), _ok('{"n": 1}')])
    session = LlmSession(settings(max_output_tokens=100), model=model)
    got = call_structured(
        session, MESSAGES, schema={"type": "object"}, name="thing", validate=lambda d: d, purpose="test"
    )
    assert got == {"n": 1} and model.calls == 2


@pytest.mark.parametrize("usage", [None, (0, 0), (10, 0)], ids=["missing", "zeros", "zero-output"])
def test_unreported_usage_is_accepted_and_booked_at_the_most_the_call_could_cost(
    usage: tuple[int, int] | None,
) -> None:
    answer = AIMessage(content='{"x": 1}')
    if usage is not None:
        answer.usage_metadata = {"input_tokens": usage[0], "output_tokens": usage[1], "total_tokens": 0}
    records: list[Any] = []
    session = LlmSession(settings(), model=Scripted(script=[answer]), recorder=records.append)
    assert session.call(MESSAGES).content == '{"x": 1}'
    (record,) = records
    assert record.outcome == "ok" and record.tokens_out == session.settings.max_output_tokens
    assert record.tokens_in == (10 if usage == (10, 0) else estimate_prompt_tokens(["rules", "the question"]))


def test_a_usage_count_past_the_bound_is_bad_output_booked_at_the_bound() -> None:
    from warden.llm.session import MAX_REPORTED_TOKENS

    answer = AIMessage(content="{}")
    answer.usage_metadata = {"input_tokens": 2**63, "output_tokens": 5, "total_tokens": 0}
    records: list[Any] = []
    session = LlmSession(settings(), model=Scripted(script=[answer]), recorder=records.append)
    with pytest.raises(LlmError) as refused:
        session.call(MESSAGES)
    assert refused.value.code == "llm_bad_output" and "1,000,000,000" in refused.value.message
    (record,) = records
    assert record.tokens_in == MAX_REPORTED_TOKENS and record.tokens_out == session.settings.max_output_tokens


def test_json_nested_past_the_recursion_limit_is_invalid_output() -> None:
    with pytest.raises(InvalidOutput) as invalid:
        parse_structured(AIMessage(content="[" * 30_000 + "]" * 30_000), "thing")
    assert "nested too deeply" in invalid.value.errors[0]


def test_a_call_past_its_deadline_is_a_timeout_even_when_the_client_wraps_it() -> None:
    import httpx

    from warden.llm.bounded import CallTooSlow, _CappedStream
    from warden.llm.failures import classify

    request = httpx.Request("POST", "http://127.0.0.1/v1/chat/completions")
    stream = _CappedStream(httpx.ByteStream(b"abc"), 100, deadline=0.0, timeout_s=0.5, request=request)
    with pytest.raises(CallTooSlow) as slow:
        list(stream)
    try:
        raise RuntimeError("Connection error.") from slow.value
    except RuntimeError as wrapped:
        assert classify(wrapped).kind == "timeout" and "0.5s (timeout_s)" in classify(wrapped).message
