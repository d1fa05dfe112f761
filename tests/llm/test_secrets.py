"""Issue 15, "Secrets never stored": a password inside OPENAI_BASE_URL and the API key reach
neither the terminal nor any byte of the state directory when the model endpoint fails."""

from __future__ import annotations

from pathlib import Path

from _cli import analyse_with_runbook, warden
from _loopback import Endpoint, error
from _support import MODEL, query, root_runbook, write_policy

PASSWORD = "S3cretPassw0rd"
API_KEY = "sk-test-SECRETKEY123456"
SECRETS = (PASSWORD, API_KEY, "SECRETKEY123456")


def _assert_nowhere(home: Path, *texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, f"{secret!r} printed:\n{text}"
    files = [home / "warden.duckdb", home / "warden.duckdb.wal", home / "checkpoints.sqlite"]
    files += [home / "checkpoints.sqlite-wal", home / "checkpoints.sqlite-shm"]
    assert (home / "warden.duckdb").is_file() and (home / "checkpoints.sqlite").is_file()
    for path in files:
        if path.is_file():
            raw = path.read_bytes()
            for secret in SECRETS:
                for encoded in (secret.encode(), secret.encode("utf-16-le")):
                    assert encoded not in raw, f"{secret!r} stored in {path.name}"
    tables = {
        "runs": "status_reason",
        "steps": "error",
        "audit_events": "payload_json",
        "llm_calls": "concat_ws(' ', error, params_json, messages_json, response_json)",
    }
    for table, column in tables.items():
        for row in query(home, f"SELECT {column} AS text FROM {table}"):
            for secret in SECRETS:
                assert secret not in (row["text"] or ""), f"{secret!r} in {table}: {row['text']}"


def test_a_password_in_the_base_url_and_the_api_key_are_never_printed_or_stored(
    tmp_path: Path, endpoint: Endpoint
) -> None:
    host_port = endpoint.url.removeprefix("http://")
    endpoint.push(*[error(500, f"upstream said: Authorization: Bearer {API_KEY}")] * 4)
    env = {
        "WARDEN_POLICY": str(write_policy(tmp_path)),
        "WARDEN_LLM_MODEL": MODEL,
        "OPENAI_BASE_URL": f"http://user:{PASSWORD}@{host_port}",
        "OPENAI_API_KEY": API_KEY,
        "WARDEN_LLM_MAX_RETRIES": "1",
        "WARDEN_LLM_BACKOFF_S": "0",
    }
    home = tmp_path / "home"
    done = analyse_with_runbook(home, root_runbook(tmp_path), env=env)
    assert done.code == 1, str(done)
    assert "reason: step 'plan' failed: [llm_server_error]" in done.out, str(done)
    assert "user:***@" in done.out, str(done)  # the endpoint is still named, its password masked
    (row,) = query(home, "SELECT status, status_reason FROM runs WHERE parent_run_id IS NULL")
    assert row["status"] == "failed" and "***" in row["status_reason"]
    assert query(home, "SELECT count(*) AS n FROM llm_calls")[0]["n"] == 2
    doctor = warden(home, "doctor", env=env)
    _assert_nowhere(home, done.out, done.err, doctor.out, doctor.err)


def test_an_unreachable_endpoint_with_a_password_in_its_url_is_not_printed_or_stored(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        "WARDEN_POLICY": str(write_policy(tmp_path)),
        "WARDEN_LLM_MODEL": MODEL,
        "OPENAI_BASE_URL": f"http://user:{PASSWORD}@127.0.0.1:{port}/v1",
        "OPENAI_API_KEY": API_KEY,
        "WARDEN_LLM_MAX_RETRIES": "0",
        "WARDEN_LLM_BACKOFF_S": "0",
    }
    home = tmp_path / "home"
    done = analyse_with_runbook(home, root_runbook(tmp_path), env=env)
    assert done.code == 1, str(done)
    assert "[llm_connection]" in done.out, str(done)
    doctor = warden(home, "doctor", "--json", env=env)
    assert doctor.code == 1, str(doctor)
    _assert_nowhere(home, done.out, done.err, doctor.out, doctor.err)


def test_a_registered_secret_echoed_by_the_model_is_masked_in_the_checkpoint(tmp_path: Path) -> None:
    """The checkpoint holds pending ledger records as the store's masked JSON: a secret only the
    registry knows (a config file's key) must be masked there too, not only in the database."""
    import copy
    import json

    from _support import GOOD_PLAN, analyse, service, settings
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage

    secret = "ckptKey-Lk9Jh7Gf5"
    plan = copy.deepcopy(GOOD_PLAN)
    plan["steps"][0]["description"] = f"Configured with {secret} here"
    usage = {"input_tokens": 1, "output_tokens": 1, "total_tokens": 2}
    fake = GenericFakeChatModel(messages=iter([AIMessage(content=json.dumps(plan), usage_metadata=usage)]))
    svc = service(tmp_path, write_policy(tmp_path), settings(api_key=secret), chat_model=fake)
    analyse(svc, root_runbook(tmp_path))
    stored = {p.name: p.read_bytes() for p in (tmp_path / "home").iterdir() if p.is_file()}
    assert any(
        b"Configured with ***" in raw for name, raw in stored.items() if name.startswith("checkpoints")
    )
    for name, raw in stored.items():
        assert secret.encode() not in raw, f"stored in {name}"
