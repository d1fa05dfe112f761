"""Attacks by a client that reaches the Temporal frontend (gRPC) but is no Warden user: a plain
`temporalio` Client on the cluster's namespace and task queue, nothing else (no store, no key).
Everything it uses is readable from Temporal itself: workflow ids (the run ids) from the
workflow list, a run's full input state (tenant, requester, runbook, document ids) from the
start event of its history, a decision's signed request from the `decide` update in history.

docs/SCALE.md takes this client as its threat ("anyone who reaches the Temporal frontend can
name any approver"). It does not say the frontend must be private. The attacks below were
confirmed defects (the worker's activities took the workflow's input, run id, tenant,
requester, runbook, document paths, as the service's word, and looked up only the run id, for
its bound policy); they are now regression tests of the fix (`NodeActivities._run`): an
activity runs only for the run's own `warden-run` workflow (workflow id = run id), on a state
whose tenant, requester, root and depth are the ledger's, never on a run the ledger has ended
(but to record it), ingest reads no path on Temporal, and a run a person decided is never
asked (so never takes a copied decision) again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import timedelta
from typing import Any

import pytest
from _cluster import WAIT_S, Cluster
from _wardencli import ACME_NOTICE, REPO, runbook, slow, write_yaml
from temporalio import workflow
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.common import RetryPolicy, WorkflowIDReusePolicy
from temporalio.service import RPCError
from temporalio.worker import Worker

from warden.graph.temporal.workflow import WORKFLOW
from warden.service import Service

pytestmark = pytest.mark.slow

GLOBEX_NOTICE = REPO / "fixtures" / "globex" / "notice.md"


def _completed_run(cluster: Cluster) -> tuple[Service, str]:
    """An acme run requested by ana, approved by dora through the service, completed."""
    cluster.start_workers(1)
    service = cluster.service()
    book = write_yaml(cluster.home.parent / "quick.yaml", runbook("quick", [slow("a", 0)]))
    started = service.start(
        service.principal("ana@acme", writing=True), ACME_NOTICE, tenant="acme", runbook=book
    )
    assert started.status == "waiting_approval", started
    done = service.decide(service.principal("dora@acme"), started.root_run_id, "approve", role="dpo")
    assert done.status == "completed", done
    return service, started.root_run_id


async def _start_input(client: Client, workflow_id: str) -> dict[str, Any]:
    """The run's start request as recorded in its history (what the attacker copies)."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    first = history.events[0].workflow_execution_started_event_attributes
    [request] = await client.data_converter.decode(first.input.payloads)
    assert isinstance(request, dict)
    return request


async def _until_settled(handle: WorkflowHandle[Any, Any]) -> str:
    """Wait until the forged workflow waits for a decision or closes: its phase."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        described = await handle.describe()
        if described.status is not None and described.status.name != "RUNNING":
            return described.status.name
        try:
            progress = await handle.query("progress")
            if progress["phase"] in ("waiting", "done", "failed"):
                return str(progress["phase"])
        except RPCError:
            pass
        await asyncio.sleep(0.5)
    raise AssertionError("the forged workflow never settled")


def _forge(cluster: Cluster, root: str, change: dict[str, Any], *, own_id: bool = False) -> str:
    """Start a `warden-run` workflow under a new id (`own_id`: the run's own, reused once its
    workflow closed) whose state is the run's own, as recorded in Temporal, with `change`
    applied; wait for it to settle; its phase or closing status."""

    async def attack() -> str:
        client = await Client.connect(cluster.settings.address)
        request = await _start_input(client, root)
        state = {**request["state"], **change}
        handle = await client.start_workflow(
            WORKFLOW,
            {"state": state, "heartbeat_s": request.get("heartbeat_s") or 3},
            id=root if own_id else f"forged-{root}-{time.time_ns()}",
            task_queue=cluster.settings.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        )
        return await _until_settled(handle)

    return asyncio.run(attack())


def _run_row(service: Service, root: str) -> dict[str, Any]:
    [row] = service.store.query("SELECT status, requester, tenant FROM runs WHERE run_id = ?", [root])
    return row


@pytest.mark.parametrize("own_id", [False, True], ids=["new-workflow-id", "runs-own-workflow-id"])
def test_a_forged_start_naming_a_completed_run_does_not_reopen_it_for_a_forged_approval(
    cluster: Cluster, own_id: bool
) -> None:
    """The attacker copies a completed acme run's input from Temporal and starts it again under
    a new workflow id with another runbook (never approved, another name) and another requester.
    The worker looks the run id up (a real run: its bound policy) and runs plan, guard and
    approval_open on the forged state: the completed run is set back to `waiting_approval`, an
    inbox row asks acme's DPOs to approve the forged runbook 'requested by' mallory, and
    `approval_requested` is audited. Secure: the run stays completed and nothing is queued.
    Under a new workflow id every activity refuses (not the run's own workflow); under the run's
    own id (Temporal lets a closed workflow's id be used again) the activities refuse a requester
    other than the ledger's, and any node on a run the ledger has ended."""
    service, root = _completed_run(cluster)
    forged_book = runbook("exfiltrate", [slow("x", 0), slow("y", 0)])
    phase = _forge(
        cluster,
        root,
        {"requester": "mallory@acme", "runbook": forged_book, "runbook_sha256": None},
        own_id=own_id,
    )
    row = _run_row(service, root)
    queued = service.store.query(
        "SELECT requester, runbook FROM approval_queue WHERE run_id = ? AND decided_at IS NULL", [root]
    )
    assert row["status"] == "completed", (phase, row)
    assert queued == [], queued


def test_a_forged_start_cannot_make_a_worker_read_a_document_outside_the_tenants_roots(
    cluster: Cluster,
) -> None:
    """The forged state names a path and no document ids, so the workflow schedules ingest,
    whose node reads the path as given: the service's checks (tenant, document roots) were made
    on the service's request, never here. globex's notice (outside acme's document roots) is
    read, stored and linked to the acme run, where acme's users read its passages. Secure:
    nothing stored for a path the tenant's policy does not allow (or ingest refuses any path
    on Temporal, where the service always reads the documents itself)."""
    service, root = _completed_run(cluster)
    before = service.store.query("SELECT document_id, name FROM run_documents WHERE run_id = ?", [root])
    _forge(cluster, root, {"document_ids": [], "document_paths": [str(GLOBEX_NOTICE)]})
    after = service.store.query("SELECT document_id, name FROM run_documents WHERE run_id = ?", [root])
    globex = service.store.query(
        "SELECT count(*) AS n FROM passages WHERE text LIKE '%Globex Corporation%'", []
    )[0]["n"]
    assert after == before, after
    assert globex == 0, globex


async def _signed_decision(client: Client, workflow_id: str) -> dict[str, Any]:
    """The `decide` request a service sent to the run (signature included), from its history."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    for event in history.events:
        if event.HasField("workflow_execution_update_accepted_event_attributes"):
            accepted = event.workflow_execution_update_accepted_event_attributes.accepted_request
            [request] = await client.data_converter.decode(accepted.input.args.payloads)
            assert isinstance(request, dict) and request.get("signature"), request
            return request
    raise AssertionError("no decision in the run's history")


def _approved_run_in_step_a(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> tuple[Service, str, Any]:
    """An acme run ana requested and dora approved through the service, its step a running
    (until the file `go` appears in the signals directory, returned), step b to come."""
    signals = tmp_path / "signals"
    signals.mkdir()
    monkeypatch.setenv("WTEST_SIGNALS", str(signals))
    cluster.start_workers(1)
    service = cluster.service()
    book = write_yaml(
        cluster.home.parent / "held.yaml", runbook("held", [slow("a", 120, until="go"), slow("b", 0)])
    )
    started = service.start(
        service.principal("ana@acme", writing=True), ACME_NOTICE, tenant="acme", runbook=book
    )
    root = started.root_run_id
    assert started.status == "waiting_approval", started
    service.engine.wait_s = 3.0  # the decision returns while step a runs
    service.decide(service.principal("dora@acme"), root, "approve", role="dpo")
    _wait(lambda: service.store.query("SELECT 1 FROM steps WHERE run_id = ? AND step_id = 'a'", [root]))
    return service, root, signals


async def _replay_decision(cluster: Cluster, root: str, workflow_id: str) -> str:
    """Start the run's recorded input under `workflow_id` and, if it waits for a decision, send
    it the signed `decide` request copied from the run's history; the phase it settled in."""
    client = await Client.connect(cluster.settings.address)
    request = await _start_input(client, root)
    decision = await _signed_decision(client, root)
    handle = await client.start_workflow(
        WORKFLOW,
        request,
        id=workflow_id,
        task_queue=cluster.settings.task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
    )
    phase = await _until_settled(handle)
    if phase == "waiting":  # the defect: the forged workflow waits for a decision again
        await handle.execute_update("decide", decision)
    with contextlib.suppress(WorkflowFailureError):  # refused: the secure outcome
        await handle.result()
    return phase


def test_a_run_the_kill_switch_cancelled_does_not_run_again_on_a_replayed_signed_decision(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    """dora approves a run through the service; its first step runs; the administrator engages
    acme's kill switch (the workflow is cancelled, the run recorded `cancelled`), later releases
    it. The attacker starts the run's recorded input again under a new workflow id and, once it
    waits (approval attempt 1 again), sends it the `decide` request copied from the original
    history, dora's signature included: approval_take verifies the signature (valid: it covers
    the decision, "run#1" and the bound policy, nothing that tells the two workflows apart),
    the steps run and the cancelled run ends `completed`. Secure: the run stays cancelled and no
    step runs after the switch (a signature for one workflow execution, taken once; and no node
    works on a run the ledger has ended)."""
    service, root, signals = _approved_run_in_step_a(cluster, monkeypatch, tmp_path)
    service.kill_switch(service.principal("adam@acme"), "acme", engage=True, reason="incident 7")
    (signals / "go").write_text("")  # step a ends (the worker holds the file while it runs)
    _wait(lambda: _run_row(service, root)["status"] == "cancelled")
    service.kill_switch(service.principal("adam@acme"), "acme", engage=False, reason=None)
    assert _run_row(service, root)["status"] == "cancelled"
    before = service.store.query("SELECT step_id FROM steps WHERE run_id = ?", [root])
    assert [r["step_id"] for r in before] == ["a"], before  # b never ran: the switch stopped it

    # under a new workflow id (not the run's own: refused), then under the run's own, reused
    # once the cancelled run's workflow closed (the ledger ended the run: refused)
    for workflow_id in (f"forged-{root}", root):
        asyncio.run(_replay_decision(cluster, root, workflow_id))
    ran = service.store.query("SELECT step_id, status FROM steps WHERE run_id = ? ORDER BY step_id", [root])
    assert _run_row(service, root)["status"] == "cancelled", (_run_row(service, root), ran)
    assert [r["step_id"] for r in ran] == ["a"], ran


def test_a_live_runs_workflow_terminated_and_started_again_takes_no_copied_decision(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    """While an approved run's step a runs, the attacker terminates its workflow (the run is
    still `running` in the ledger, which no node refuses) and starts its recorded input again
    under its id, to send it dora's copied signed decision once it waits. Secure: its approval
    is not opened again (a person decided the run already: `approval_decided`), so it never
    waits, takes no decision, and step b never runs."""
    service, root, signals = _approved_run_in_step_a(cluster, monkeypatch, tmp_path)

    async def terminate() -> None:
        client = await Client.connect(cluster.settings.address)
        await client.get_workflow_handle(root).terminate(reason="attacker")

    asyncio.run(terminate())
    phase = asyncio.run(_replay_decision(cluster, root, root))
    (signals / "go").write_text("")  # the terminated workflow's step a ends
    time.sleep(2)
    ran = service.store.query("SELECT step_id FROM steps WHERE run_id = ? ORDER BY step_id", [root])
    assert phase != "waiting", phase
    assert [r["step_id"] for r in ran] == ["a"], ran
    assert _run_row(service, root)["status"] != "completed", _run_row(service, root)


def _wait(check: Any) -> Any:
    deadline = time.monotonic() + WAIT_S
    while not (found := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.3)
    return found


@workflow.defn(name="attacker-workflow", sandboxed=False)
class AttackerWorkflow:
    """The attacker's own workflow, on the attacker's own worker and task queue: it schedules
    one of Warden's activities on Warden's task queue with an argument of its choosing."""

    @workflow.run
    async def run(self, arg: dict[str, Any]) -> Any:
        return await workflow.execute_activity(
            arg["activity"],
            arg["input"],
            task_queue=arg["queue"],
            start_to_close_timeout=timedelta(seconds=120),
            retry_policy=RetryPolicy(maximum_attempts=1),
        )


def test_an_attackers_workflow_cannot_run_wardens_stop_activity_on_a_waiting_run(
    cluster: Cluster,
) -> None:
    """Activities are the worker's code, but their input is whoever scheduled them: any workflow
    of the namespace may schedule `warden.stop` on Warden's task queue. Given the id of acme's
    waiting run (from the workflow list), it records the run `cancelled` (its inbox row closed,
    `status:cancelled` audited as Warden's), though no requester, approver or administrator
    withdrew it and Warden's workflow for it still waits. Secure: the activity refuses work it
    was not scheduled for by that run's own `warden-run` workflow (activity.info().workflow_id /
    workflow_type), the run still waits."""
    cluster.start_workers(1)
    service = cluster.service()
    book = write_yaml(cluster.home.parent / "slow.yaml", runbook("slow", [slow("a", 0)]))
    started = service.start(
        service.principal("ana@acme", writing=True), ACME_NOTICE, tenant="acme", runbook=book
    )
    root = started.root_run_id
    assert started.status == "waiting_approval", started

    async def attack() -> None:
        client = await Client.connect(cluster.settings.address)
        queue = f"attacker-{time.time_ns()}"
        async with Worker(client, task_queue=queue, workflows=[AttackerWorkflow]):
            with contextlib.suppress(WorkflowFailureError):  # refused: the secure outcome
                await client.execute_workflow(
                    "attacker-workflow",
                    {
                        "activity": "warden.stop",
                        "input": {"run_id": root},
                        "queue": cluster.settings.task_queue,
                    },
                    id=f"attacker-{root}",
                    task_queue=queue,
                )

    asyncio.run(attack())
    assert _run_row(service, root)["status"] == "waiting_approval", _run_row(service, root)


# Attacks that held (same client, same cluster; by test or by reading the code named):
# - A forged start under a fresh run id (no run row): `Service.run_context` raises NotFound, every
#   activity fails, the workflow's `fail` activity too; nothing is written (working.run_context).
# - An unsigned or made-up `decide` update: refused by approval_take, audited
#   (tests/temporal/test_direct_decisions.py); a signed one while the kill switch is engaged:
#   refused (take_decision). A decision for another attempt or another policy: the validator.
# - A forged state cannot skip approval: the workflow always runs plan, guard and approval_open
#   on its input, and the step node runs only a runbook whose hash is an approved version of the
#   state's tenant (steps.run_gate); caps are recomputed by the guard from the bound policy (the
#   forged `limits` of a start are overwritten), so a start alone raises no cap.
# - The `progress` query returns the pending approval's payload only (runbook, report, requester,
#   tenant): no document text or findings travel in workflow state (activities.written); but note
#   that anyone with frontend access reads every tenant's runbooks, requesters and document ids
#   from histories, which is what the attacks above start from.
# Not tested (judged from the code): beyond warden.stop (tested above), an attacker's workflow
# scheduling `warden.fail` or `warden.step` (forged `limits`) is refused by the same guard
# (`_scheduled_by_run`, common to every activity). Still open: cancelling or terminating a run's
# workflow from the frontend cancels the run in the ledger with no actor (stop activity), or
# (terminate) leaves it `running`/`waiting_approval` with no coded status (terminated and
# started again, a decided run is failed by the refusal of its approval_open: tested above).
