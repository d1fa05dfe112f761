"""The decision path's gates, checked once in the service (every entry point goes through it):
the kill switch in force (not only the bound policy's), a malformed decision refused with a
code, and `approval.require_authenticated` for every operation that decides a run's fate."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from _acme_tree import REPO, Acme, acme_copy

from warden.errors import UsageError, WardenError
from warden.runbooks.load import parse_runbook
from warden.service import Service
from warden.store import approvals, runs

RUNBOOK = REPO / "runbooks" / "privacy-policy-review.yaml"


def _status(service: Service, run_id: str) -> str:
    with service.store.connect(read_only=True) as con:
        row = runs.get_run(con, run_id)
    assert row is not None
    return str(row["status"])


def _code(call: Callable[[], Any]) -> str | None:
    try:
        call()
    except WardenError as exc:
        return exc.code
    return None


# --- the kill switch in force ----------------------------------------------------------------


def test_the_kill_switch_refuses_every_decision_until_released_but_not_a_withdrawal(tmp_path: Path) -> None:
    acme = acme_copy(tmp_path / "acme")
    service = acme.service()
    ana = service.principal("ana@acme", writing=True)
    dora, adam = service.principal("dora@acme"), service.principal("adam@acme")
    approved, rejected, edited, withdrawn = (
        service.start(ana, acme.notice, tenant="acme").root_run_id for _ in range(4)
    )
    service.kill_switch(adam, "acme", engage=True, reason="incident 42")
    service = Service(acme.home)  # the file is no longer the policy in force

    codes = {
        "approve": _code(lambda: service.decide(dora, approved, "approve", role="dpo")),
        "reject": _code(lambda: service.decide(dora, rejected, "reject", role="dpo", comment="no")),
        "edit": _code(
            lambda: service.decide(
                dora,
                edited,
                "approve",
                role="dpo",
                edited_runbook=parse_runbook(RUNBOOK.read_text(), source="edit"),
            )
        ),
    }
    assert codes == {"approve": "kill_switch", "reject": "kill_switch", "edit": "kill_switch"}
    report = service.check_edit(dora, edited, RUNBOOK.read_text())
    assert "kill_switch" in {i.code for i in report.issues if i.severity == "error"}
    with service.store.connect(read_only=True) as con:
        assert approvals.approvals_of_tree(con, approved) == []
        assert approvals.versions_of(con, "acme", "privacy-policy-review") == []
    assert {_status(service, r) for r in (approved, rejected, edited)} == {"waiting_approval"}
    # withdrawing stops work: the switch does not stand in its way
    assert service.cancel(ana, withdrawn, "incident 42").status == "cancelled"

    # a switch engaged for every tenant counts too; once released, the decision is taken
    service.kill_switch(adam, None, engage=True, reason="all stop")
    service.kill_switch(adam, "acme", engage=False, reason=None)
    assert _code(lambda: service.decide(dora, approved, "approve", role="dpo")) == "kill_switch"
    service.kill_switch(adam, None, engage=False, reason=None)
    assert service.policies.live().kill_switch_reason("acme") is None
    assert service.check_edit(dora, edited, RUNBOOK.read_text()).ok
    assert service.decide(dora, approved, "approve", role="dpo").waiting  # its child waits now


def test_another_tenants_kill_switch_does_not_refuse_a_decision(tmp_path: Path) -> None:
    acme = acme_copy(tmp_path / "acme")
    service = acme.service()
    run_id = service.start(
        service.principal("ana@acme", writing=True), acme.notice, tenant="acme"
    ).root_run_id
    dora = service.principal("dora@acme")
    service.kill_switch(service.principal("adam@acme"), "globex", engage=True, reason="globex only")
    service = Service(acme.home)
    assert service.decide(dora, run_id, "approve", role="dpo").waiting


# --- a malformed decision ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "args"),
    [
        ("approve", {"role": "dpo", "reviewed_sha256": "x"}),
        ("approve", {"role": "dpo", "reviewed_sha256": "A" * 64}),
        ("approve", {"role": ""}),
        ("reject", {"role": "dpo", "comment": "  "}),
        ("approve", {"role": "dpo", "comment": "x" * 4001}),
    ],
    ids=["sha256-short", "sha256-upper", "no-role", "reject-no-reason", "comment-too-long"],
)
def test_a_malformed_decision_is_a_coded_usage_error(tmp_path: Path, kind: str, args: dict[str, Any]) -> None:
    acme = acme_copy(tmp_path / "acme")
    service = acme.service()
    run_id = service.start(
        service.principal("ana@acme", writing=True), acme.notice, tenant="acme"
    ).root_run_id
    with pytest.raises(UsageError) as refused:
        service.decide(service.principal("dora@acme"), run_id, kind, **args)  # type: ignore[arg-type]
    assert refused.value.code == "invalid_request" and refused.value.fix
    assert "x" * 100 not in refused.value.message  # names the field, not the value sent
    assert _status(service, run_id) == "waiting_approval"


# --- require_authenticated: operation x how the user is known ----------------------------------


OPERATIONS = ["approve", "reject", "edit", "cancel by approver", "cancel by requester", "triage", "comment"]
"""Every operation on a tenant's runs a principal may take (policy admin acts are below)."""

REFUSED_WHEN_ASSERTED = {"approve", "reject", "edit", "cancel by approver", "cancel by requester", "triage"}
"""What decides a run's fate (or a finding's): refused to an asserted identity under
require_authenticated. A comment decides nothing: any member may add one however known."""


@pytest.fixture(scope="module")
def strict_tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[Acme, str]:
    """A completed tree (for triage) under a policy that requires authenticated decisions."""
    import os

    if os.environ.get("WARDEN_TEST_LEDGER") == "postgres":
        pytest.skip("each test gets its own database: the tree is made per test below")
    return _strict_tree(tmp_path_factory.mktemp("strict"))


def _strict_tree(base: Path) -> tuple[Acme, str]:
    acme = acme_copy(base / "acme", require_authenticated=True)
    service = acme.service()
    ana = service.principal("ana@acme", writing=True)
    dora = service.principal("dora@acme", "token")
    root = service.start(ana, acme.notice, tenant="acme").root_run_id
    service.decide(dora, root, "approve", role="dpo")
    assert service.decide(dora, f"{root}.checks", "approve", role="dpo").status == "completed"
    return acme, root


@pytest.mark.parametrize("auth", ["asserted", "password", "token", "oidc"])
@pytest.mark.parametrize("operation", OPERATIONS)
def test_require_authenticated_applies_to_every_decision(
    tmp_path: Path, request: pytest.FixtureRequest, operation: str, auth: str
) -> None:
    import os
    import shutil

    if os.environ.get("WARDEN_TEST_LEDGER") == "postgres":
        acme, completed = _strict_tree(tmp_path)
    else:
        template, completed = request.getfixturevalue("strict_tree")
        acme = Acme(template.base, template.policy, template.notice, template.systems, tmp_path / "home")
        shutil.copytree(template.home, acme.home)
    service = acme.service()
    analyst = service.principal("ana@acme", "asserted", writing=True)
    waiting = service.start(analyst, acme.notice, tenant="acme").root_run_id
    ana, dora = service.principal("ana@acme", auth), service.principal("dora@acme", auth)
    finding = service.findings(service.principal("dora@acme", "token"), completed)[0]["finding_id"]
    edited = parse_runbook(RUNBOOK.read_text(), source="edit")
    calls: dict[str, Callable[[], Any]] = {
        "approve": lambda: service.decide(dora, waiting, "approve", role="dpo"),
        "reject": lambda: service.decide(dora, waiting, "reject", role="dpo", comment="no"),
        "edit": lambda: service.decide(dora, waiting, "approve", role="dpo", edited_runbook=edited),
        "cancel by approver": lambda: service.cancel(dora, waiting, "not now"),
        "cancel by requester": lambda: service.cancel(ana, waiting, "wrong notice"),
        "triage": lambda: service.triage(dora, finding, "fixed", "notice revised", run_id=completed),
        "comment": lambda: service.comment(dora, waiting, "looks fine"),
    }
    code = _code(calls[operation])
    if auth == "asserted" and operation in REFUSED_WHEN_ASSERTED:
        assert code == "authentication_required", (operation, auth, code)
        assert _status(service, waiting) == "waiting_approval"
    else:
        assert code is None, (operation, auth, code)


@pytest.mark.parametrize("auth", ["asserted", "token"])
def test_policy_admin_acts_are_not_tenant_decisions(tmp_path: Path, auth: str) -> None:
    """The kill switch and `policy apply` are the policy admins' acts on the local state
    directory (the CLI: there is no server route for them); a tenant's require_authenticated
    governs decisions on its runs, not them. Engaging the switch must never need more than
    the CLI, in an incident."""
    acme = acme_copy(tmp_path / "acme", require_authenticated=True)
    service = acme.service()
    service.principal("ana@acme", writing=True)
    adam = service.principal("adam@acme", auth)  # type: ignore[arg-type]
    assert service.kill_switch(adam, "acme", engage=True, reason="incident").kill_switch_reason("acme")
    service = Service(acme.home)
    assert service.kill_switch(adam, "acme", engage=False, reason=None).kill_switch_reason("acme") is None
    assert service.apply_policy(adam, acme.policy, "re-applied").kill_switch_reason("acme") is None
