"""Every API route × every kind of caller × {own run, other tenant's run, no such run}.

Callers: no token, a malformed token, an expired token, a revoked token, the tenant's approver
(dora, dpo), the tenant's analyst (ana, the requester, without the approval role), and another
tenant's user (gwen, globex's dpo). Targets are Acme's waiting run, Globex's waiting run and an
id that names no run. The server decides nothing itself; this checks what the service decides
arrives as the right status, and that another tenant's run answers exactly like a missing one.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from tests.server.conftest import NOTICE, Live

GHOST = "run-0123456789ab"
CALLERS = ("none", "malformed", "expired", "revoked", "dora@acme", "ana@acme", "gwen@globex")
TARGETS = ("acme", "globex", "missing")
TENANT_OF = {"dora@acme": "acme", "ana@acme": "acme", "gwen@globex": "globex"}

Route = Callable[[httpx.Client, str], httpx.Response]
RUN_ROUTES: dict[str, Route] = {
    "get_run": lambda c, r: c.get(f"/api/runs/{r}"),
    "findings": lambda c, r: c.get(f"/api/runs/{r}/findings"),
    "tree": lambda c, r: c.get(f"/api/runs/{r}/tree"),
    "decision": lambda c, r: c.post(f"/api/runs/{r}/decision", json={"decision": "approve", "role": "dpo"}),
    "cancel": lambda c, r: c.post(f"/api/runs/{r}/cancel", json={"reason": "withdrawn"}),
}
MUTATING = {"decision", "cancel"}


@pytest.fixture(scope="module")
def credentials(live: Live) -> dict[str, str | None]:
    revoked = live.token("dora@acme")
    live.service.accounts.revoke_token(revoked.token_id)
    return {
        "none": None,
        "malformed": "not-a-token",
        "expired": live.token("dora@acme", timedelta(seconds=-1)).secret,
        "revoked": revoked.secret,
        **{u: live.tokens[u] for u in TENANT_OF},
    }


@pytest.fixture(scope="module")
def shared_runs(live: Live) -> dict[str, str]:
    """Waiting runs the read-only routes share (mutating routes get fresh ones)."""
    return {"acme": live.waiting_run("acme"), "globex": live.waiting_run("globex"), "missing": GHOST}


def _client(live: Live, token: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=live.url, headers=headers, timeout=60)


def _expected(route: str, caller: str, target: str) -> int:
    if caller in ("none", "malformed", "expired", "revoked"):
        return 401
    if target == "missing" or TENANT_OF[caller] != target:
        return 404
    if route == "decision":  # ana requested every Acme run and holds no dpo role
        return 409 if caller == "ana@acme" else 200
    return 200  # reads; cancel by the requester or an approver


CASES = [(r, c, t) for r in RUN_ROUTES for c in CALLERS for t in TARGETS]


@pytest.mark.parametrize(("route", "caller", "target"), CASES, ids=["-".join(c) for c in CASES])
def test_run_routes(
    live: Live,
    credentials: dict[str, str | None],
    shared_runs: dict[str, str],
    route: str,
    caller: str,
    target: str,
) -> None:
    fresh = route in MUTATING and target != "missing" and caller in TENANT_OF
    run = live.waiting_run(target) if fresh else shared_runs[target]
    with _client(live, credentials[caller]) as c:
        answer = RUN_ROUTES[route](c, run)
        ghost = RUN_ROUTES[route](c, GHOST)
    expected = _expected(route, caller, target)
    assert answer.status_code == expected, answer.text
    if expected == 401:
        code = "no_principal" if caller == "none" else "bad_credentials"
        assert answer.json()["error"]["code"] == code and answer.headers["www-authenticate"] == "Bearer"
    if expected == 404:  # not yours == not there, byte for byte (ids substituted)
        assert answer.json()["error"]["code"] == "unknown_run"
        assert answer.content.replace(run.encode(), b"RUN") == ghost.content.replace(GHOST.encode(), b"RUN")
    if expected == 200 and not fresh and route != "findings":  # a waiting run may have none yet
        assert run in answer.text
    if fresh and expected != 200:  # nothing was decided or cancelled
        assert live.settle("dora@acme" if target == "acme" else "gwen@globex", run)[0]["status"] == (
            "waiting_approval"
        )


NON_RUN: dict[str, Callable[[httpx.Client, str], httpx.Response]] = {
    "list_runs": lambda c, t: c.get("/api/runs"),
    "me": lambda c, t: c.get("/api/me"),
    "start_run": lambda c, t: c.post(
        "/api/runs", data={"tenant": t}, files={"file": ("notice.md", NOTICE.read_bytes())}
    ),
}
NON_RUN_CASES = [(r, c, t) for r in NON_RUN for c in CALLERS for t in ("acme", "globex", "nowhere")]


@pytest.mark.parametrize(
    ("route", "caller", "tenant"), NON_RUN_CASES, ids=["-".join(c) for c in NON_RUN_CASES]
)
def test_tenant_routes(
    live: Live,
    credentials: dict[str, str | None],
    shared_runs: dict[str, str],
    route: str,
    caller: str,
    tenant: str,
) -> None:
    with _client(live, credentials[caller]) as c:
        answer = NON_RUN[route](c, tenant)
    if caller not in TENANT_OF:
        assert answer.status_code == 401
        return
    own = TENANT_OF[caller]
    if route == "start_run":
        assert answer.status_code == (202 if tenant == own else 403), answer.text
        if tenant != own:  # a foreign and an unknown tenant answer alike
            assert answer.json()["error"]["code"] == "forbidden"
        return
    assert answer.status_code == 200
    if route == "list_runs":
        tenants: set[Any] = {r["tenant"] for r in answer.json()}
        assert tenants == {own}
        other = "globex" if own == "acme" else "acme"
        assert shared_runs[other] not in answer.text
