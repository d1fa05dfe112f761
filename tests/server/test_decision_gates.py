"""The decision gates through the server (API and review pages): a decision under the kill
switch in force is refused with `kill_switch` (409) and an edit's check reports it; a malformed
decision is a coded 4xx, never 500. Its own server: the kill switch would stop the shared one's
runs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from tests.server.conftest import PASSWORD, POLICY, REPO, USERS, Live, serving, signed_in

from warden.server import create_app
from warden.service import Service
from warden.store import approvals

RUNBOOK = REPO / "runbooks" / "privacy-policy-review.yaml"


@pytest.fixture(scope="module")
def own(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    home = tmp_path_factory.mktemp("gates") / "home"
    # the policy is put in force first, and the server runs under whatever policy is in force
    # (not a presented file): an admin changes it (the kill switch) while it serves
    Service(home, policy=POLICY).principal("ana@acme", writing=True)
    app = create_app(home, workers=2)
    for user, tenant in USERS.items():
        app.state.service.accounts.add_user(user, tenant, PASSWORD)
    tokens = {u: app.state.service.accounts.issue_token(u, timedelta(days=1)).secret for u in USERS}
    with serving(app) as port:
        yield Live(f"http://127.0.0.1:{port}", app, home, tokens)


def _switch(live: Live, engage: bool) -> None:
    """The admin's `warden policy kill-switch` on the server's state directory."""
    service = Service(live.home)
    adam = service.principal("adam@acme")
    service.kill_switch(adam, "acme", engage=engage, reason="incident 42" if engage else None)


def test_no_decision_through_the_api_or_the_pages_while_the_kill_switch_is_engaged(own: Live) -> None:
    by_api, by_page, edited = own.waiting_run(), own.waiting_run(), own.waiting_run()
    _switch(own, engage=True)
    try:
        answers: dict[str, tuple[int, str | None]] = {}
        with own.client("dora@acme") as c:
            for label, body in (
                ("api approve", {"decision": "approve", "role": "dpo"}),
                ("api reject", {"decision": "reject", "role": "dpo", "reason": "no"}),
                ("api edit", {"decision": "edit", "role": "dpo", "runbook": RUNBOOK.read_text()}),
            ):
                r = c.post(f"/api/runs/{by_api}/decision", json=body)
                answers[label] = (r.status_code, r.json()["error"]["code"] if r.status_code >= 400 else None)
        with signed_in(own, "dora@acme") as (c, csrf):
            r = c.post(f"/runs/{by_page}/approve", data={"csrf_token": csrf, "role": "dpo"})
            answers["page approve"] = (r.status_code, "kill_switch" if "kill_switch" in r.text else None)
            r = c.post(
                f"/runs/{edited}/edit",
                data={
                    "csrf_token": csrf,
                    "role": "dpo",
                    "action": "approve",
                    "runbook_yaml": RUNBOOK.read_text(),
                },
            )
            answers["page edit"] = (r.status_code, "kill_switch" if "kill_switch" in r.text else None)
        assert answers == {
            "api approve": (409, "kill_switch"),
            "api reject": (409, "kill_switch"),
            "api edit": (409, "kill_switch"),
            "page approve": (409, "kill_switch"),
            "page edit": (422, "kill_switch"),  # the review page, the guard's report naming it
        }, answers
        with own.client("dora@acme") as c:
            for run_id in (by_api, by_page, edited):
                assert c.get(f"/api/runs/{run_id}").json()["run"]["status"] == "waiting_approval"
        with own.service.store.connect(read_only=True) as con:
            recorded = [approvals.approvals_of_tree(con, r) for r in (by_api, by_page, edited)]
        assert recorded == [[], [], []]
    finally:
        _switch(own, engage=False)
    with own.client("dora@acme") as c:  # released: the same decision is taken
        r = c.post(f"/api/runs/{by_api}/decision", json={"decision": "approve", "role": "dpo"})
        assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    "body",
    [
        {"decision": "approve", "role": "dpo", "runbook_sha256": "x"},
        {"decision": "approve", "role": "dpo", "runbook_sha256": "F" * 64},
        {"decision": "reject", "role": "dpo", "reason": " "},
        {"decision": "approve", "role": "dpo", "comment": "x" * 4001},
        {"decision": "reject", "role": "dpo"},
    ],
    ids=["sha256-short", "sha256-upper", "reject-blank-reason", "comment-too-long", "reject-no-reason"],
)
def test_a_malformed_api_decision_is_a_coded_4xx(own: Live, body: dict[str, Any]) -> None:
    run_id = own.waiting_run()
    with own.client("dora@acme") as c:
        r = c.post(f"/api/runs/{run_id}/decision", json=body)
        assert 400 <= r.status_code < 500, (r.status_code, r.text)
        error = r.json()["error"]
        assert error["code"] != "internal" and error["fix"], error
        assert c.get(f"/api/runs/{run_id}").json()["run"]["status"] == "waiting_approval"
