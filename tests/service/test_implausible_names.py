"""A user name no policy can hold (a NUL, a control character, a lone surrogate) is answered
like an unknown user at every entry that takes one from outside, before it reaches the ledger's
SQL (Postgres refuses a NUL: that was a 500). Session ids and bearer tokens are only ever
compared by their SHA-256, so a NUL in them is an unknown credential too. Both ledgers
(`WARDEN_TEST_LEDGER=postgres`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from warden.errors import UsageError
from warden.service.errors import BadCredentials

REPO = Path(__file__).resolve().parents[2]
POLICY = REPO / "fixtures" / "acme" / "policy.yaml"
PASSWORD = "correct horse battery"


@pytest.mark.parametrize("name", ["dora@acme\x00", "dora@\x00acme", "dora@acme\x1b[31m", "dora\ud800@acme"])
def test_an_implausible_name_is_an_unknown_user_everywhere(tmp_path: Path, name: str) -> None:
    from warden.service import Service

    service = Service(tmp_path / "home", policy=POLICY)
    service.accounts.add_user("dora@acme", "acme", PASSWORD)
    with pytest.raises(BadCredentials):
        service.accounts.authenticate_password(name, PASSWORD, client="127.0.0.1")
    with pytest.raises(BadCredentials):
        service.accounts.sign_in(name, PASSWORD, client="127.0.0.1")
    with pytest.raises(UsageError) as refused:  # the operator's commands: no such account
        service.accounts.set_password(name, "another passphrase")
    assert refused.value.code == "unknown_account"
    # the real dora still signs in, and no attempt under the other name was recorded
    assert service.accounts.sign_in("dora@acme", PASSWORD, client="127.0.0.1").principal.user == "dora@acme"
    recorded = service.store.query('SELECT DISTINCT "user" FROM sign_in_attempts')
    assert recorded == [{"user": "dora@acme"}]


def test_a_nul_in_a_session_id_or_a_token_is_an_unknown_credential(tmp_path: Path) -> None:
    from warden.service import Service

    service = Service(tmp_path / "home", policy=POLICY)
    service.policies.in_force(may_initialise=True)
    for attempt in (
        lambda: service.accounts.session("abc\x00def"),
        lambda: service.accounts.authenticate_token("wdn_abc\x00def"),
    ):
        with pytest.raises(BadCredentials):
            attempt()
