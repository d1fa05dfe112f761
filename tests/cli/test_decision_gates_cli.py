"""The decision gates through the real CLI (a subprocess each): `warden approve`/`reject`
(also of an edited runbook) while the tenant's kill switch is engaged is refused with
`kill_switch` and nothing is recorded; `warden cancel` by an asserted `--as` is refused
(`authentication_required`, exit 2) where the policy requires authenticated decisions, for
the run's approver and its requester alike."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.service._acme_tree import acme_copy

from warden.store import approvals, runs

REPO = Path(__file__).resolve().parents[2]
RUNBOOK = REPO / "runbooks" / "privacy-policy-review.yaml"


def _warden(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI on `home`'s policy in force (no file presented: the kill switch changed it)."""
    env = {**os.environ, "WARDEN_HOME": str(home), "COLUMNS": "300", "NO_COLOR": "1"}
    for name in ("WARDEN_SERVER", "WARDEN_TOKEN", "WARDEN_POLICY", "WARDEN_USER"):
        env.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "warden", *args], env=env, capture_output=True, text=True, timeout=300
    )


def _status(service: object, run_id: str) -> str:
    with service.store.connect(read_only=True) as con:  # type: ignore[attr-defined]
        return str(runs.get_run(con, run_id)["status"])


def test_the_cli_takes_no_decision_while_the_kill_switch_is_engaged(tmp_path: Path) -> None:
    acme = acme_copy(tmp_path / "acme")
    service = acme.service()
    ana = service.principal("ana@acme", writing=True)
    approved, rejected, edited = (
        service.start(ana, acme.notice, tenant="acme").root_run_id for _ in range(3)
    )
    service.kill_switch(service.principal("adam@acme"), "acme", engage=True, reason="incident 42")

    done = {
        "approve": _warden(acme.home, "approve", approved, "--as", "dora@acme", "--role", "dpo"),
        "reject": _warden(
            acme.home, "reject", rejected, "--as", "dora@acme", "--role", "dpo", "--reason", "no"
        ),
        "edit": _warden(
            acme.home, "approve", edited, "--as", "dora@acme", "--role", "dpo", "--runbook", str(RUNBOOK)
        ),
    }
    answers = {k: (d.returncode, "kill_switch" in d.stderr) for k, d in done.items()}
    assert answers == {"approve": (1, True), "reject": (1, True), "edit": (1, True)}, {
        k: d.stderr for k, d in done.items()
    }
    assert all("Traceback" not in d.stderr and "fix:" in d.stderr for d in done.values())
    with service.store.connect(read_only=True) as con:
        assert [approvals.approvals_of_tree(con, r) for r in (approved, rejected, edited)] == [[], [], []]
        assert approvals.versions_of(con, "acme", "privacy-policy-review") == []
    assert {_status(service, r) for r in (approved, rejected, edited)} == {"waiting_approval"}


def test_an_asserted_cancel_is_refused_where_decisions_need_authentication(tmp_path: Path) -> None:
    acme = acme_copy(tmp_path / "acme", require_authenticated=True)
    service = acme.service()
    run_id = service.start(
        service.principal("ana@acme", writing=True), acme.notice, tenant="acme"
    ).root_run_id
    for user in ("dora@acme", "ana@acme"):  # its approver, its requester
        done = _warden(acme.home, "cancel", run_id, "--as", user, "--reason", "asserted")
        assert done.returncode == 2 and "authentication_required" in done.stderr, (user, done.stderr)
        assert "fix:" in done.stderr
    assert _status(service, run_id) == "waiting_approval"
    # an authenticated approver may (the server's path, here in-process)
    outcome = service.cancel(service.principal("dora@acme", "token"), run_id, "withdrawn")
    assert outcome.status == "cancelled"
