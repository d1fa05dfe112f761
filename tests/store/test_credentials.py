"""warden.credentials: what counts as a credential, what does not, and the store's use of it."""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from warden import credentials
from warden.credentials import MASK, SECRET_ENV_VARS, scrub, scrub_data, without_password
from warden.llm.config import ENV_FIELDS
from warden.store import Store, audit, llm_calls, runs, steps


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://user:pass@host/v1", "https://user:***@host/v1"),
        ("http://user:S3cretPassw0rd@127.0.0.1:8080/v1", "http://user:***@127.0.0.1:8080/v1"),
        ("postgresql://svc:p4ss@db.internal:5432/hr", "postgresql://svc:***@db.internal:5432/hr"),
        ("redis://:onlypass@cache:6379/0", "redis://:***@cache:6379/0"),
        ("https://u:p@ss:w0rd@host/x", "https://u:***@host/x"),  # the last '@' ends the userinfo
        ("call to 'm' at http://a:b@h:1/v1 failed", "call to 'm' at http://a:***@h:1/v1 failed"),
        ("key sk-abcdefghijklmnopqrstuvwxyz0123 given", "key *** given"),
        ("sk-proj-AbCdEf0123456789_xyz-QRST", MASK),
        ("push with ghp_" + "a1" * 18 + " now", "push with *** now"),
        ("slack xoxb-1234567890-abcdef", "slack ***"),
        ("aws AKIAIOSFODNN7EXAMPLE.", "aws ***."),
        ("jwt eyJhbGciOiJIUzI1.eyJzdWIiOiIx.SflKxwRJSMeKKF2Q", "jwt ***"),
        ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig", "Authorization: Bearer ***"),
        ("Authorization: Basic dXNlcjpwYXNz", "Authorization: Basic ***"),
        ("authorization=0123456789abcdefXYZ", "authorization=***"),
        ("{'Authorization': 'Token abc'}", "{'Authorization': 'Token ***'}"),
        ("sent bearer 9f8e7d6c5b4a3210", "sent bearer ***"),
        ("https://api.example/v1?api_key=abc123&model=m", "https://api.example/v1?api_key=***&model=m"),
        (
            "token=xyz; password = hunter2, secret=s, apiKey=k",
            "token=***; password = ***, secret=***, apiKey=***",
        ),
        ("access_token=aaa&client_secret=bbb", "access_token=***&client_secret=***"),
        (
            '{"api_key": "abc", "password": "p w", "x": "y"}',
            '{"api_key": "***", "password": "***", "x": "y"}',
        ),
        # Warden's own API token: the id stays (it names the token to revoke), the secret goes
        ("use wdn_0123456789ab_" + "Zx9-_kQ" * 6 + " for it", "use wdn_0123456789ab_*** for it"),
        ("Bearer-less wdn_a1b2c3d4e5f6_abcdefgh.", "Bearer-less wdn_a1b2c3d4e5f6_***."),
        # name: value (YAML, a header, a line pasted into a comment) when the value looks secret
        ("db password: hunter2-Corr3ct", "db password: ***"),
        ("Password:S3cret!pw", "Password:***"),
        ("api_key: 'AbC123xyz789'", "api_key: '***'"),
        ('client_secret : "0f9e8d7c6b5a"', 'client_secret : "***"'),
        ("pwd: correct-horse-battery-staple", "pwd: ***"),
        ("TOKEN:\tghijklmnopqrstuvwxyzab", "TOKEN:\t***"),
    ],
)
def test_each_credential_form_is_masked(text: str, expected: str) -> None:
    assert scrub(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Contact our DPO at dpo@acme.example or privacy@acme.example.",
        "See https://acme.example/privacy and http://127.0.0.1:8080/v1 (mail: ana@acme).",
        "https://user@host/x: a user name alone is not a password",
        "mailto:dpo@acme.example",
        "Authorization: the controller must obtain consent before processing.",
        "Bearer bonds and the bearer of this notice are not tokens.",
        "We retain data for a risk-assessment-procedure-documentation period.",
        "max_tokens=4096 tokens_in=12 temperature=0.0",
        "Your password must be changed every 90 days; keep secrets secret.",
        "sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "",
        # prose around a key name and a colon: not a secret's shape
        "Password reset: use the link we email you.",
        "Your password: must be changed every 90 days.",
        "Token: a string the server gives you.",
        "Secret: user.contact.email and user.name are shared.",
        "Trade secret: confidential information.",
        "max_tokens: 4096 tokens: 12",
        "monkey: 12345678 keys: abcdefgh12",
        "wdn_ tokens look like wdn_<id>_<secret>; wdn_0123456789ab alone is an id.",
    ],
)
def test_ordinary_notice_text_is_left_alone(text: str) -> None:
    assert scrub(text) == text


def test_the_values_of_secret_environment_variables_are_masked_when_long_enough(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "local-key-7Hq2")
    assert scrub("the server said: bad key local-key-7Hq2!") == "the server said: bad key ***!"
    monkeypatch.setenv("OPENAI_API_KEY", "short")  # under 8 characters: masking it would mangle text
    assert scrub("a short answer") == "a short answer"


def test_every_variable_the_config_reads_a_key_from_is_a_secret_variable() -> None:
    assert {var for var, field in ENV_FIELDS.items() if field == "api_key"} <= set(SECRET_ENV_VARS)


@pytest.mark.parametrize(
    "text",
    [
        "http://user:S3cret@h/v1 Authorization: Bearer abcdef123456 sk-abcdefghijklmnopqrstu",
        "token=a password=b {'secret': 'c'} Authorization: Basic xyz",
        "http://u:***@h ***",
        "password: hunter2-x wdn_0123456789ab_abcdefgh12 api_key: 'AbC123xyz789'",
    ],
)
def test_scrubbing_is_idempotent(text: str) -> None:
    once = scrub(text)
    assert scrub(once) == once


def test_scrub_data_masks_every_string_and_whole_values_under_secret_keys() -> None:
    data = {
        "reason": "at http://u:pw@h/v1",
        "headers": {"Authorization": "Basic abc", "X-Api-Key": "k", "accept": "json"},
        "nested": [("token=t", 3), {"password": "p", "max_tokens": 5, "tokens_in": 2}],
        7: None,
    }
    assert scrub_data(data) == {
        "reason": "at http://u:***@h/v1",
        "headers": {"Authorization": MASK, "X-Api-Key": MASK, "accept": "json"},
        "nested": [("token=***", 3), {"password": MASK, "max_tokens": 5, "tokens_in": 2}],
        7: None,
    }


def test_without_password_keeps_its_contract_for_its_callers() -> None:
    from warden.llm_config import without_password as kept

    assert kept is without_password
    assert without_password(None) is None and without_password("") is None
    assert without_password(" http://u:p@h:1/v1 ") == "http://u:***@h:1/v1"
    assert without_password("http://h/v1") == "http://h/v1"


@pytest.mark.parametrize(
    "unit",
    [
        "a",
        "://",
        "'",
        "bearer ",
        "Bearer 1",
        "token=",
        "://a:",
        "a:@",
        "Authorization: ",
        '"password": \'',
        "sk-",
        "eyJaaaaaaaaa.",
        "x" * 999 + " ",
        "password: ",
        "token:",
        "pwd:" + "a" * 7 + " ",
        "wdn_0123456789ab_",
    ],
)
def test_scrub_takes_linear_time_on_a_megabyte(unit: str) -> None:
    """Doubling the input doubles the work: process CPU time (what other processes on a shared
    machine do not change), the best of three, so a quadratic pattern (4x) stands out."""

    def took(size: int) -> float:
        text = unit * (size // len(unit))
        best = float("inf")
        for _ in range(3):
            started = time.process_time()
            scrub(text)
            best = min(best, time.process_time() - started)
        return best

    one, two = took(1_000_000), took(2_000_000)
    assert one < 5.0, f"{unit!r}: {one:.2f} s of CPU for 1 MB"
    assert two < 3.2 * one + 0.05, f"{unit!r}: 1 MB {one:.2f} s, 2 MB {two:.2f} s of CPU (not linear)"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "warden.duckdb", lock_timeout_s=5)
    with s.connect() as con:
        runs.create_run(con, runs.RunRow("root", "root", None, None, 0, "root", None, "acme", "ana@acme"))
    return s


def test_the_store_masks_reasons_step_errors_audit_payloads_and_call_records(store: Store) -> None:
    leak = "at http://u:hunter22@h/v1 with sk-abcdefghijklmnopqrstu"
    record = SimpleNamespace(
        seq=1,
        attempt=1,
        request_hash="h",
        model="m",
        purpose="plan",
        messages=[{"type": "human", "data": {"content": "password=hunter22"}}],
        params={"api_key": "hunter22"},
        max_tokens=10,
        temperature=0.0,
        response=None,
        outcome="server_error",
        error=leak,
        tokens_in=0,
        tokens_out=0,
        cost_usd=0.0,
        latency_s=0.1,
        replayed=False,
    )
    with store.connect() as con:
        runs.set_status(con, "root", "failed", leak)
        steps.start_step(con, "root", "plan", kind="analyser", analyser="a", system_id=None)
        steps.fail_step(con, "root", "plan", error="x" * 3990 + leak, duration_s=0.1)
        audit.audit(
            con, run_id="root", root_run_id="root", tenant="acme", actor="a", event="e", payload={"r": leak}
        )
        llm_calls.insert_call(
            con, call_id="c", run_id="root", root_run_id="root", step_id="plan", record=record
        )
    dumped = json.dumps(
        store.query(
            "SELECT (SELECT status_reason FROM runs) AS a, (SELECT error FROM steps) AS b, "
            "(SELECT payload_json FROM audit_events) AS c, "
            "(SELECT concat_ws(' ', error, messages_json, params_json) FROM llm_calls) AS d",
            [],
        ),
        default=str,
    )
    assert "hunter22" not in dumped and "abcdefghijklmnopqrstu" not in dumped
    assert "http://u:***@h/v1" in dumped


def test_the_module_says_what_it_exports() -> None:
    assert set(credentials.__all__) == {
        "MASK",
        "SECRET_ENV_VARS",
        "dumps_scrubbed",
        "register_secret",
        "registered_secrets",
        "scrub",
        "scrub_data",
        "url_password",
        "without_password",
    }


# registered secrets: values with no shape of their own (each test uses its own, never reset)


def test_a_registered_secret_is_masked_bare_by_every_masking_function() -> None:
    secret = "regKey-Qw7Er9Ty2"
    assert credentials.register_secret(secret)
    assert secret in credentials.registered_secrets()
    text = f"Configured with {secret}, as asked."
    assert scrub(text) == "Configured with ***, as asked."
    assert scrub_data({"d": [text]}) == {"d": ["Configured with ***, as asked."]}
    assert secret not in credentials.dumps_scrubbed({"d": text})
    assert credentials.dumps_scrubbed({"d": "nothing here"}) == '{"d": "nothing here"}'


def test_short_secrets_are_not_registered_so_common_words_stay_readable() -> None:
    assert not credentials.register_secret("admin12")  # 7 characters
    assert not credentials.register_secret("")
    assert not credentials.register_secret(None)
    assert not credentials.register_secret(MASK)
    assert scrub("admin12 logged in") == "admin12 logged in"


def test_settings_register_the_config_key_and_the_url_password_not_the_username() -> None:
    from warden.llm.config import LlmSettings

    LlmSettings(
        model="m",
        api_key="cfgKey-Ab3Cd5Ef7",  # type: ignore[arg-type]  (pydantic makes it a SecretStr)
        base_url="http://warden-user:Pass%40word99@h:1/v1",
    )
    known = credentials.registered_secrets()
    assert {"cfgKey-Ab3Cd5Ef7", "Pass%40word99", "Pass@word99"} <= known
    assert "warden-user" not in known
    assert scrub("echoed Pass@word99 and cfgKey-Ab3Cd5Ef7") == "echoed *** and ***"


def test_the_store_masks_a_registered_secret_in_records_and_payloads(store: Store) -> None:
    secret = "storeKey-Mn4Bv6Cx8"
    credentials.register_secret(secret)
    with store.connect() as con:
        runs.set_status(con, "root", "failed", f"reason {secret}")
        audit.audit(
            con, run_id="root", root_run_id="root", tenant="acme", actor="a", event="e", payload={"p": secret}
        )
    for path in store.path.parent.iterdir():  # the database and its WAL
        assert secret.encode() not in path.read_bytes(), path.name
    assert secret not in json.dumps(store.query("SELECT * FROM audit_events", []), default=str)


# --- dumps_scrubbed: the whole-dump shortcut must dump exactly what the walk would -----------

_FRAGMENTS = [
    "payment token; full card",
    '{"key": "user.contact.email"}',
    "api_key=abcd1234efgh",
    "password\n= hunter2hunter2",
    'the "password": "hunter2" quoted',
    "'client_secret' : 'xyz987'",
    "https://ana:s3cret@example.com/v1",
    "Authorization: Bearer abc.def.ghi123",
    "sk-" + "a" * 24,
    "İstanbul token: x",
    "monkey: 1",
    "TOKEN\t=\tvalue",
    'a \\"secret\\": \\"v\\"',
    "pa\u017f\u017fword=hunter2 key",
    "ap\u0131_key=hunter2hunter2",
    "author\u0131zation: Basic abcdefgh",
    "password\u00a0=hunter2",
    "token\u2028=abcdefgh",
    "db password: hunter2-Corr3ct",
    "Password reset: click",
    "ops wdn_0123456789ab_" + "Zx9-_kQ" * 6,
    "secret\x1f:\tabcdefgh12",
    "token\u2028:abcdefgh1",
    'api_key: "AbC123xyz789"',
]


def _reference(obj: object) -> str:
    return json.dumps(scrub_data(obj), sort_keys=True, default=lambda v: scrub(str(v)), ensure_ascii=False)


def _payloads() -> object:
    from hypothesis import strategies as st

    text = st.one_of(
        st.sampled_from(_FRAGMENTS),
        st.text(max_size=30),
        st.builds(lambda a, b: a + b, st.sampled_from(_FRAGMENTS), st.text(max_size=8)),
    )
    keys = st.one_of(
        text,
        st.sampled_from(["api_key", "password", "Authorization", "key", "note", "token", "pa\u017fsword"]),
    )
    leaves = st.one_of(text, st.integers(), st.none(), st.booleans())

    def nested(kids: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
        return st.one_of(st.lists(kids, max_size=4), st.dictionaries(keys, kids, max_size=4))

    return st.recursive(leaves, nested, max_leaves=12)


def test_dumps_scrubbed_dumps_exactly_what_scrubbing_every_string_dumps() -> None:
    from hypothesis import given, settings

    @settings(max_examples=400, deadline=None)
    @given(_payloads())
    def check(obj: object) -> None:
        assert credentials.dumps_scrubbed(obj, sort_keys=True, ensure_ascii=False) == _reference(obj)

    check()


@pytest.mark.parametrize("fragment", _FRAGMENTS)
def test_dumps_scrubbed_masks_each_credential_form_nested_in_a_payload(fragment: str) -> None:
    for payload in (
        {"findings": [{"evidence": fragment, "n": 1}], "password": "hunter2"},
        {fragment: "hunter2"},
    ):
        assert credentials.dumps_scrubbed(payload, sort_keys=True, ensure_ascii=False) == _reference(payload)
        escaped = json.dumps(scrub_data(payload), sort_keys=True, default=lambda v: scrub(str(v)))
        assert (
            credentials.dumps_scrubbed(payload, sort_keys=True) == escaped
        )  # ensure_ascii, as json's default


def test_dumps_scrubbed_finds_a_secret_variable_json_would_escape(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV_VARS[0], 'abc"def\\ghi-12345')
    payload = {"message": 'the key is abc"def\\ghi-12345, see'}
    dumped = credentials.dumps_scrubbed(payload, sort_keys=True, ensure_ascii=False)
    assert "ghi-12345" not in dumped and dumped == _reference(payload)
