"""A `decide` update sent straight to a run's workflow, as anyone who reaches the Temporal
frontend can send one (a plain `temporalio` client, naming dora@acme, role dpo, signed in by
token): everything it needs is readable from the workflow's own `progress` query and the
ledger's run row. The workflow's validator admits it (it cannot tell who sent an update); the
worker refuses it unless a Warden service signed it (graph/temporal/signing.py), and refuses
any decision while the tenant's kill switch is engaged (graph/nodes/approval.take_decision).
Before: the approval was recorded in dora's name. Found by an attacker's review
(tests/attacks/test_attacks_content.py, section 4)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from _cluster import WAIT_S, Cluster
from _wardencli import ACME_NOTICE, runbook, slow, write_yaml
from temporalio.client import Client

from warden.graph.temporal.signing import sign
from warden.service import Service
from warden.store import keys


def _waiting_tree(cluster: Cluster) -> tuple[Service, str]:
    cluster.start_workers(1)
    service = cluster.service()
    book = write_yaml(cluster.home.parent / "slow.yaml", runbook("slow", [slow("a", 0)]))
    started = service.start(
        service.principal("ana@acme", writing=True), ACME_NOTICE, tenant="acme", runbook=book
    )
    assert started.status == "waiting_approval", started
    return service, started.root_run_id


def _decide_directly(
    cluster: Cluster, service: Service, root: str, signature: str | None = None, *, signed: bool = False
) -> None:
    """Send dora's approval to the workflow as a Temporal client would (the validator admits
    it); `signed`: with the signature a service would make, the ledger's key read directly."""
    bound = service.store.query("SELECT policy_sha256 FROM runs WHERE run_id = ?", [root])[0]

    async def send() -> None:
        handle = (await Client.connect(cluster.settings.address)).get_workflow_handle(root)
        progress = await handle.query("progress")
        request: dict[str, Any] = {
            "approval_id": progress["approval_id"],
            "policy_sha256": bound["policy_sha256"],
            "decision": {
                "decision": "approve",
                "approver": "dora@acme",
                "role": "dpo",
                "runbook_sha256": progress["payload"]["runbook_sha256"],
                "auth": "token",
            },
        }
        if signature is not None:
            request["signature"] = signature
        if signed:
            with service.store.connect() as con:
                request["signature"] = sign(keys.decision_key(con), request)
        await handle.execute_update("decide", request)

    asyncio.run(send())


def _refusals(service: Service, root: str) -> list[dict[str, Any]]:
    return service.store.query(
        "SELECT payload_json FROM audit_events WHERE run_id = ? AND event = 'approval_refused' ORDER BY seq",
        [root],
    )


def _wait_for(check: Any, what: str) -> Any:
    deadline = time.monotonic() + WAIT_S
    while not (found := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)
    return found


def _status(service: Service, root: str) -> str:
    return str(service.store.query("SELECT status FROM runs WHERE run_id = ?", [root])[0]["status"])


def test_a_decision_sent_straight_to_a_workflow_without_a_services_signature_is_refused(
    cluster: Cluster,
) -> None:
    """No signature, then a made-up one: each refused and audited, the run waits again, nothing
    approved; the service's own decision by the same approver then goes through."""
    service, root = _waiting_tree(cluster)
    for n, signature in enumerate((None, "0" * 64), start=1):
        _decide_directly(cluster, service, root, signature)
        refused = _wait_for(
            lambda n=n: len(_refusals(service, root)) >= n and _refusals(service, root), "a refusal"
        )
        assert len(refused) == n and "signature" in refused[-1]["payload_json"], refused
        _wait_for(lambda: _status(service, root) == "waiting_approval", "the run to wait again")
    assert service.store.query("SELECT approver FROM approvals WHERE run_id = ?", [root]) == []
    outcome = service.decide(service.principal("dora@acme"), root, "approve", role="dpo")
    assert outcome.status == "completed", outcome


def test_a_signed_decision_is_refused_by_the_worker_while_the_kill_switch_is_engaged(
    cluster: Cluster,
) -> None:
    """The switch engaged as `policy apply` of a file leaves it before its `engine.stop` lands,
    and a decision carrying a good signature (a service that checked before the switch, or a
    stolen key) reaches the worker: refused there for the switch, no approval recorded."""
    service, root = _waiting_tree(cluster)
    service.policies.with_kill_switch(service.principal("adam@acme"), "acme", True, "incident 42")
    _decide_directly(cluster, service, root, signed=True)
    refused = _wait_for(lambda: _refusals(service, root), "a refusal")
    assert "kill switch" in refused[-1]["payload_json"], refused
    assert service.store.query("SELECT approver, decision FROM approvals WHERE run_id = ?", [root]) == []
