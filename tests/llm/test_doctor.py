"""`warden doctor`, in a fresh process: mode, settings with the key redacted, a real check."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from _cli import warden
from _loopback import Endpoint
from _support import MODEL, write_policy

KEY = "sk-test-abcdefghijklmnop1234"


def _dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def test_offline_is_reported_as_the_mode_when_no_model_is_configured(tmp_path: Path) -> None:
    done = warden(tmp_path / "home", "doctor")
    assert done.code == 0, str(done)
    assert "mode: offline" in done.out


def test_with_an_endpoint_doctor_redacts_the_key_and_checks_the_model_is_served(
    tmp_path: Path, endpoint: Endpoint
) -> None:
    env = {
        "WARDEN_LLM_MODEL": MODEL,
        "OPENAI_BASE_URL": endpoint.url,
        "OPENAI_API_KEY": KEY,
        "WARDEN_POLICY": str(write_policy(tmp_path)),
    }
    done = warden(tmp_path / "home", "doctor", "--json", env=env)
    assert done.code == 0, str(done)
    assert KEY not in done.out + done.err
    report = json.loads(done.out)
    assert (report["mode"], report["model"], report["base_url"]) == ("llm", MODEL, endpoint.url)
    assert report["api_key"] == "sk-…1234"
    assert report["check"]["ok"] is True and f"'{MODEL}' is listed" in report["check"]["detail"]
    assert report["tenants"] == {"acme": True, "globex": False}
    assert report["price_usd_per_1m"]["table_entry"] == "default"  # an unknown model: the cautious price
    human = warden(tmp_path / "home", "doctor", env=env)
    assert "check:    ok" in human.out and "may NOT use" in human.out and KEY not in human.out


def test_an_unreachable_endpoint_fails_the_check_with_a_code_and_a_fix(tmp_path: Path) -> None:
    env = {"WARDEN_LLM_MODEL": MODEL, "OPENAI_BASE_URL": _dead_url(), "WARDEN_LLM_TIMEOUT_S": "5"}
    done = warden(tmp_path / "home", "doctor", env=env)
    assert done.code == 1, str(done)
    assert "failed (llm_connection)" in done.out
    assert "OPENAI_BASE_URL" in done.out
    assert "Traceback" not in done.err


def test_the_config_file_in_the_state_directory_is_read_and_the_environment_wins(
    tmp_path: Path, endpoint: Endpoint
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.yaml").write_text(
        f"llm:\n  model: {MODEL}\n  base_url: http://127.0.0.1:9/v1\n  timeout_s: 7\n"
        f"  prices:\n    {MODEL}: {{input: 0.5, output: 1.5}}\nplanner: llm\n"
    )
    done = warden(home, "doctor", "--json", env={"OPENAI_BASE_URL": endpoint.url})
    assert done.code == 0, str(done)
    report = json.loads(done.out)
    assert (report["base_url"], report["timeout_s"], report["planner"]) == (endpoint.url, 7, "llm")
    assert report["price_usd_per_1m"] == {"table_entry": MODEL, "input": 0.5, "output": 1.5}
    assert report["config"] == f"{home / 'config.yaml'} + environment"


def test_a_bad_setting_is_a_usage_error_naming_the_variable(tmp_path: Path) -> None:
    done = warden(
        tmp_path / "home", "doctor", env={"WARDEN_LLM_MODEL": MODEL, "WARDEN_LLM_TIMEOUT_S": "soon"}
    )
    assert done.code == 2, str(done)
    assert "bad_config" in done.err and "WARDEN_LLM_TIMEOUT_S" in done.err and "Traceback" not in done.err


def test_openai_without_a_key_fails_the_check_before_any_request(tmp_path: Path) -> None:
    done = warden(tmp_path / "home", "doctor", env={"WARDEN_LLM_MODEL": "gpt-4o-mini"})
    assert done.code == 1, str(done)
    assert "llm_no_key" in done.out and "OPENAI_API_KEY" in done.out
