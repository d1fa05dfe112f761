"""`warden users disable/enable USER`: the operator stops a person at once (audited): no
password or OIDC sign-in, their sessions end and their API tokens are revoked; enable undoes
the first (the tokens stay revoked). An OIDC user the policy names but who has no account gets
a disabled one without a password. On the ledger $WARDEN_LEDGER_URL names, if any."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from warden.cli import app
from warden.service.errors import BadCredentials

REPO = Path(__file__).resolve().parents[2]
POLICY = REPO / "fixtures" / "acme" / "policy.yaml"
PASSWORD = "correct horse battery"


def _users(home: Path, *args: str) -> tuple[int, str]:
    env = {"WARDEN_HOME": str(home), "WARDEN_SERVER": None, "WARDEN_TOKEN": None, "COLUMNS": "200"}
    result = CliRunner(env=env).invoke(app, ["users", *args, "--policy", str(POLICY)])
    return result.exit_code, result.stdout + result.stderr


def _events(service: Any, event: str) -> list[dict[str, Any]]:
    found = service.store.query(
        "SELECT actor, payload_json FROM audit_events WHERE event = ? ORDER BY seq", [event]
    )
    return [{"actor": r["actor"], **json.loads(r["payload_json"])} for r in found]


def test_disable_stops_sign_in_sessions_and_tokens_and_enable_undoes_it(tmp_path: Path) -> None:
    from warden.service import Service

    home = tmp_path / "home"
    service = Service(home, policy=POLICY)
    service.accounts.add_user("dora@acme", "acme", PASSWORD)
    token = service.accounts.issue_token("dora@acme", timedelta(days=1))
    session = service.accounts.sign_in("dora@acme", PASSWORD, client="127.0.0.1")

    code, out = _users(home, "disable", "dora@acme")
    assert code == 0 and "disabled" in out and "sessions ended: 1" in out and "revoked: 1" in out, out
    for attempt in (
        lambda: service.accounts.session(session.session_id),
        lambda: service.accounts.authenticate_token(token.secret),
        lambda: service.accounts.sign_in("dora@acme", PASSWORD, client="127.0.0.1"),
    ):
        with pytest.raises(BadCredentials):
            attempt()
    code, out = _users(home, "list")
    assert code == 0 and "DISABLED" in out, out

    code, out = _users(home, "enable", "dora@acme")
    assert code == 0 and "enabled" in out, out
    assert service.accounts.sign_in("dora@acme", PASSWORD, client="127.0.0.1").principal.user == "dora@acme"
    with pytest.raises(BadCredentials):  # a revoked token stays revoked
        service.accounts.authenticate_token(token.secret)
    disabled = _events(service, "account_disabled")
    assert disabled == [
        {"actor": "operator@host", "user": "dora@acme", "sessions_ended": 1, "tokens_revoked": 1}
    ]
    assert _events(service, "account_enabled") == [{"actor": "operator@host", "user": "dora@acme"}]


def test_disable_gives_an_oidc_user_without_an_account_a_disabled_one(tmp_path: Path) -> None:
    from warden.service import Service

    home = tmp_path / "home"
    service = Service(home, policy=POLICY)
    service.policies.in_force(may_initialise=True)
    code, out = _users(home, "disable", "gwen@globex")  # named by the policy, no account
    assert code == 0, out
    (account,) = [a for a in service.accounts.list() if a["user"] == "gwen@globex"]
    assert account["disabled"] and not account["has_password"] and account["tenant"] == "globex"
    code, out = _users(home, "disable", "nobody@acme")  # neither: refused with a fix
    assert code != 0 and "unknown_account" in out and "warden users add" in out, out
