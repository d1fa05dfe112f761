"""The approval queue as data: the inbox, SLA escalation across a restart, notifications by
webhook and SMTP on loopback, rows closed on every way out, comments and version history.

Real runs through ``Service.start`` with the bundled policy (a copy with an SLA and channels),
on a real DuckDB file; the clock of the SLA is a ``now`` passed in."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from _queue_helpers import GLOBEX, GLOBEX_NOTICE, NOTICE, policy_copy, smtp_server, webhook_server

from warden.errors import UsageError, WardenError
from warden.service import NotFound, RunRefused, Service, run_escalation_loop
from warden.service.queue import utc_naive
from warden.store import approval_queue, audit, notifications


def _service(home: Path, policy: Path) -> Service:
    return Service(home, policy=policy)


def _start(svc: Service, user: str, tenant: str = "acme", notice: Path = NOTICE) -> str:
    runbook = GLOBEX / "review.yaml" if tenant == "globex" else None
    outcome = svc.start(svc.principal(user, writing=True), notice, tenant=tenant, runbook=runbook)
    assert outcome.status == "waiting_approval", outcome
    return outcome.root_run_id


def _queue(svc: Service) -> dict[str, dict[str, Any]]:
    rows = svc.store.query("SELECT * FROM approval_queue ORDER BY requested_at")
    return {r["run_id"]: r for r in rows}


def _events(svc: Service, event: str) -> list[dict[str, Any]]:
    return svc.store.query("SELECT * FROM audit_events WHERE event = ? ORDER BY seq", [event])


# --- the inbox -------------------------------------------------------------------------------


def test_the_inbox_lists_what_my_roles_may_decide_oldest_first_and_nothing_of_another_tenant(
    tmp_path: Path,
) -> None:
    svc = _service(tmp_path / "home", policy_copy(tmp_path, sla="48h"))
    first = _start(svc, "ana@acme")
    second = _start(svc, "ana@acme")
    theirs = _start(svc, "gil@globex", tenant="globex", notice=GLOBEX_NOTICE)

    dora = svc.inbox(svc.principal("dora@acme"))
    assert [i.run_id for i in dora] == [first, second]  # oldest first
    item = dora[0]
    assert (item.tenant, item.document, item.requester, item.required_role) == (
        "acme",
        "notice.md",
        "ana@acme",
        "dpo",
    )
    assert item.runbook == "privacy-policy-review" and item.depth == 0
    assert item.sla_state == "ok" and item.due_at == item.requested_at + timedelta(hours=48)
    assert item.guard_ok and (item.guard_warnings, item.guard_errors) == (0, 0)
    assert item.cost_estimate_usd == pytest.approx(0.05)
    assert item.age_s >= 0
    assert item.to_dict()["requested_at"].endswith("Z")

    # Globex's approver sees Globex's run only; Globex's analyst and Acme's requester, analyst
    # and admin (who holds no approval role) see nothing of it
    assert [i.run_id for i in svc.inbox(svc.principal("gwen@globex"))] == [theirs]
    for user in ("gil@globex", "ana@acme", "adam@acme"):
        assert svc.inbox(svc.principal(user)) == [], user
    assert svc.inbox(svc.principal("dora@acme"), tenant="globex") == []
    assert [i.run_id for i in svc.inbox(svc.principal("dora@acme"), limit=1, offset=1)] == [second]


@pytest.mark.duckdb_only  # two state directories as two ledgers
def test_my_own_request_is_in_my_inbox_only_where_self_approval_is_allowed(tmp_path: Path) -> None:
    def ana_is_dpo(allow: bool) -> Any:
        def tweak(data: dict[str, Any]) -> None:
            acme = data["tenants"]["acme"]
            acme["users"]["ana@acme"]["roles"] = ["analyst", "dpo"]
            acme["approval"]["allow_self_approval"] = allow

        return tweak

    svc = _service(tmp_path / "a", policy_copy(tmp_path / "a", tweak=ana_is_dpo(False)))
    _start(svc, "ana@acme")
    assert svc.inbox(svc.principal("ana@acme")) == []
    assert len(svc.inbox(svc.principal("dora@acme"))) == 1

    svc = _service(tmp_path / "b", policy_copy(tmp_path / "b", tweak=ana_is_dpo(True)))
    mine = _start(svc, "ana@acme")
    assert [i.run_id for i in svc.inbox(svc.principal("ana@acme"))] == [mine]


def test_the_inbox_follows_the_policy_each_run_is_bound_to(tmp_path: Path) -> None:
    """A run waits under the policy it was requested under: dora, demoted in a later policy,
    still sees the old run (her role there is what counts) but not a new one."""

    def demote(data: dict[str, Any]) -> None:
        data["tenants"]["acme"]["users"]["dora@acme"]["roles"] = ["analyst"]
        data["tenants"]["acme"]["users"]["adam@acme"]["roles"] = ["admin", "dpo"]

    svc = _service(tmp_path / "home", policy_copy(tmp_path))
    old = _start(svc, "ana@acme")
    later = policy_copy(tmp_path, tweak=demote, name="later.yaml")
    Service(tmp_path / "home").apply_policy(svc.principal("adam@acme"), later, "dora moves to analysis")
    svc = Service(tmp_path / "home")
    new = _start(svc, "ana@acme")
    assert [i.run_id for i in svc.inbox(svc.principal("dora@acme"))] == [old]
    assert [i.run_id for i in svc.inbox(svc.principal("adam@acme"))] == [new]


def test_an_asserted_principal_sees_nothing_where_the_policy_requires_authentication(tmp_path: Path) -> None:
    def strict(data: dict[str, Any]) -> None:
        data["tenants"]["acme"]["approval"]["require_authenticated"] = True

    svc = _service(tmp_path / "home", policy_copy(tmp_path, tweak=strict))
    run = _start(svc, "ana@acme")
    assert svc.inbox(svc.principal("dora@acme")) == []
    assert [i.run_id for i in svc.inbox(svc.principal("dora@acme", "password"))] == [run]


def test_settling_the_same_wait_again_adds_no_row_and_no_notice(tmp_path: Path) -> None:
    with webhook_server() as hooks:
        svc = _service(tmp_path / "home", policy_copy(tmp_path, sla="1h", webhook_url=hooks.url))
        run = _start(svc, "ana@acme")
        before = _queue(svc)[run]
        outbox = svc.store.query("SELECT notification_id FROM notifications")
        svc.resume(svc.principal("ana@acme"), run)  # settles the pending interrupt again
        svc = _service(tmp_path / "home", policy_copy(tmp_path, sla="1h", webhook_url=hooks.url))
        svc.resume(svc.principal("dora@acme"), run)
        after = _queue(svc)
        assert list(after) == [run]
        assert after[run]["requested_at"] == before["requested_at"]
        assert after[run]["decided_at"] is None
        assert svc.store.query("SELECT notification_id FROM notifications") == outbox
        assert len(_events(svc, "approval_requested")) == 1


# --- rows close on every way out ---------------------------------------------------------------


def test_queue_rows_close_on_approve_reject_cancel_and_the_kill_switch(tmp_path: Path) -> None:
    svc = _service(tmp_path / "home", policy_copy(tmp_path))
    approved, rejected, cancelled, killed = (_start(svc, "ana@acme") for _ in range(4))
    dora = svc.principal("dora@acme")

    outcome = svc.decide(dora, approved, "approve", role="dpo", comment="fine")
    child = outcome.waiting[0]["run_id"]
    svc.decide(dora, rejected, "reject", role="dpo", comment="not now")
    svc.cancel(svc.principal("ana@acme"), cancelled, "asked the wrong question")
    killed_child = svc.decide(dora, killed, "approve", role="dpo").waiting[0]["run_id"]
    svc.kill_switch(svc.principal("adam@acme"), "acme", engage=True, reason="incident 42")
    svc = Service(tmp_path / "home")
    with pytest.raises(WardenError) as refused:  # nothing is decided under the switch ...
        svc.decide(svc.principal("dora@acme"), killed_child, "approve", role="dpo")
    assert refused.value.code == "kill_switch"
    assert _queue(svc)[killed_child]["decided_at"] is None
    done = svc.cancel(svc.principal("ana@acme"), killed_child, "incident 42")  # ... it is withdrawn
    assert done.status == "cancelled"

    rows = _queue(svc)
    outcomes = {run: (rows[run]["outcome"], rows[run]["decided_by"]) for run in rows}
    assert outcomes == {
        approved: ("approve", "dora@acme"),
        child: (None, None),
        rejected: ("reject", "dora@acme"),
        cancelled: ("cancelled", None),
        killed: ("approve", "dora@acme"),
        killed_child: ("cancelled", None),
    }
    assert all(rows[r]["decided_at"] is not None for r in rows if r != child)
    assert [i.run_id for i in svc.inbox(svc.principal("dora@acme"))] == [child]


def test_a_stopped_subtree_closes_its_rows_in_the_same_transaction(tmp_path: Path) -> None:
    svc = _service(tmp_path / "home", policy_copy(tmp_path))
    run = _start(svc, "ana@acme")
    from warden.store import runs

    with pytest.raises(RuntimeError), svc.store.connect() as con:
        runs.stop_subtree(con, run, "cancelled", "test")
        raise RuntimeError("the transaction rolls back")
    assert _queue(svc)[run]["decided_at"] is None  # nothing half-done
    with svc.store.connect() as con:
        runs.stop_subtree(con, run, "budget_exceeded", "cap")
    assert _queue(svc)[run]["outcome"] == "budget_exceeded"


# --- SLA and escalation ------------------------------------------------------------------------


def test_an_overdue_approval_is_escalated_once_across_a_restart_and_mailed_to_the_escalation_role(
    tmp_path: Path,
) -> None:
    with smtp_server() as mailbox, webhook_server() as hooks:
        policy = policy_copy(
            tmp_path, sla="48h", escalate_to="admin", smtp_port=mailbox.port, webhook_url=hooks.url
        )
        svc = _service(tmp_path / "home", policy)
        run = _start(svc, "ana@acme")
        requested = _queue(svc)[run]["requested_at"]

        # the waiting notice: dora (the only one who may decide) by mail, and the webhook
        report = svc.deliver_notifications()
        assert (report.sent, report.retrying, report.failed) == (2, 0, 0), report
        assert [m["Subject"] for m in mailbox.to("dora@acme.test")] == [
            "[Warden] Approval waiting: privacy-policy-review on notice.md (acme)"
        ]
        assert hooks.events() == ["approval_waiting"]
        _, body = hooks.received[0]
        assert body["run_id"] == run and body["recipients"] == ["dora@acme"]
        assert body["id"] == hooks.received[0][0]["Idempotency-Key"]

        dora = svc.principal("dora@acme")
        states = {h: svc.inbox(dora, now=requested + timedelta(hours=h))[0].sla_state for h in (1, 40, 49)}
        assert states == {1: "ok", 40: "due_soon", 49: "overdue"}
        assert svc.escalate_overdue(now=requested + timedelta(hours=47)) == []

        later = requested + timedelta(hours=49)
        escalated = svc.escalate_overdue(now=later)
        assert [(e.run_id, e.escalate_to, e.notified) for e in escalated] == [(run, "admin", ["adam@acme"])]
        assert escalated[0].due_at == requested + timedelta(hours=48)
        assert svc.escalate_overdue(now=later + timedelta(minutes=1)) == []

        # a restart: a new process (Service) on the same state, its clock further on
        again = Service(tmp_path / "home")
        assert again.escalate_overdue(now=later + timedelta(hours=5)) == []
        assert again.escalate_overdue() == []
        found = _events(again, "approval_escalated")
        assert len(found) == 1 and found[0]["run_id"] == run
        assert found[0]["event_key"] == f"{run}:approval_escalated:{_queue(again)[run]['runbook_sha256']}"
        item = again.inbox(again.principal("dora@acme"), now=later)[0]
        assert item.sla_state == "escalated" and item.escalated_at == later

        report = again.deliver_notifications()
        assert (report.sent, report.failed) == (2, 0), report
        [mail] = mailbox.to("adam@acme.test")
        assert mail["Subject"].startswith("[Warden] Approval overdue, escalated: privacy-policy-review")
        assert "escalated to role 'admin'" in mail.get_payload()
        assert hooks.events() == ["approval_waiting", "approval_escalated"]
        assert again.deliver_notifications().sent == 0  # sent once

        [health] = again.queue_health(again.principal("adam@acme"), "acme", now=later)
        assert (health.pending, health.overdue, health.escalated_pending, health.sla_breaches) == (1, 1, 1, 1)

        # the decision reaches the requester; the row closes
        again.decide(again.principal("dora@acme"), run, "approve", role="dpo", comment="late, sorry")
        assert again.deliver_notifications().sent == 4  # the decision, and the child's wait
        [told] = mailbox.to("ana@acme.test")
        assert told["Subject"] == f"[Warden] Your run {run} was decided: approve"
        assert "late, sorry" in told.get_payload()
        assert sorted(hooks.events()[2:]) == ["approval_waiting", "decision"]
        [health] = again.queue_health(again.principal("adam@acme"), "acme")
        assert (health.escalated_total, health.approved, health.pending) == (1, 1, 1)  # the child waits


def test_racing_escalation_passes_escalate_each_approval_exactly_once(tmp_path: Path) -> None:
    """Three processes' loops (three Services, in threads) over five overdue approvals: each is
    escalated once; a pass that loses a race for a row or for the audit chain retries or skips."""
    svc = _service(tmp_path / "home", policy_copy(tmp_path, sla="1h", escalate_to="admin"))
    runs = {_start(svc, "ana@acme") for _ in range(5)}
    later = max(_queue(svc)[r]["requested_at"] for r in runs) + timedelta(hours=2)
    results: list[list[Any]] = []
    errors: list[BaseException] = []

    def one_pass() -> None:
        try:
            results.append(Service(tmp_path / "home").escalate_overdue(now=later))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one_pass) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert sorted(e.run_id for r in results for e in r) == sorted(runs)
    assert sorted(e["run_id"] for e in _events(svc, "approval_escalated")) == sorted(runs)
    with svc.store.connect(read_only=True) as con:
        assert audit.verify_chain(con, "acme").ok


def test_one_runs_escalation_is_the_loops_and_they_escalate_it_once_together(tmp_path: Path) -> None:
    """`escalate_due` (what the Temporal engine's SLA timer runs) changes nothing before the due
    time, then makes the loop's change; the loop and it, racing in threads, escalate once."""
    svc = _service(tmp_path / "home", policy_copy(tmp_path, sla="1h", escalate_to="admin"))
    timed, raced = _start(svc, "ana@acme"), _start(svc, "ana@acme")
    requested = _queue(svc)[raced]["requested_at"]
    assert svc.escalate_due(timed, now=requested + timedelta(minutes=59)) is None
    assert svc.escalate_due("run-0123456789ab", now=requested + timedelta(hours=2)) is None
    one = svc.escalate_due(timed, now=requested + timedelta(hours=2))
    assert one is not None and (one.run_id, one.escalate_to, one.notified) == (timed, "admin", ["adam@acme"])
    assert svc.escalate_due(timed, now=requested + timedelta(hours=3)) is None

    later = requested + timedelta(hours=2)
    results: list[Any] = []
    threads = [
        threading.Thread(
            target=lambda: results.append(Service(tmp_path / "home").escalate_due(raced, now=later))
        ),
        threading.Thread(
            target=lambda: results.extend(Service(tmp_path / "home").escalate_overdue(now=later))
        ),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert [e.run_id for e in results if e is not None] == [raced]
    found = sorted(e["run_id"] for e in _events(svc, "approval_escalated"))
    assert found == sorted([timed, raced])
    assert svc.escalate_overdue(now=later + timedelta(hours=1)) == []


def test_the_servers_loop_on_a_fresh_state_directory_does_nothing_and_creates_nothing(tmp_path: Path) -> None:
    svc = _service(tmp_path / "home", policy_copy(tmp_path))
    assert svc.escalate_overdue() == [] and svc.deliver_notifications().sent == 0
    assert not (tmp_path / "home" / "warden.duckdb").exists()


def test_the_escalation_loop_runs_until_stopped(tmp_path: Path) -> None:
    calls: list[str] = []
    stop = threading.Event()

    class Fake:
        def escalate_overdue(self) -> list[Any]:
            calls.append("escalate")
            if calls.count("escalate") == 2:
                raise RuntimeError("a failing pass is logged, not fatal")
            if calls.count("escalate") >= 3:
                stop.set()
            return []

        def deliver_notifications(self) -> None:
            calls.append("deliver")

    thread = threading.Thread(target=run_escalation_loop, args=(Fake(), 0.01, stop))
    thread.start()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert calls[:6] == ["escalate", "deliver"] * 3


# --- notifications -----------------------------------------------------------------------------


def test_a_failing_webhook_is_retried_with_backoff_and_its_credentials_never_stored(tmp_path: Path) -> None:
    with webhook_server(userinfo="hook:s3cr3t-pass@") as hooks:
        hooks.status = 500
        svc = _service(tmp_path / "home", policy_copy(tmp_path, webhook_url=hooks.url))
        run = _start(svc, "ana@acme")
        at = utc_naive(None)
        report = svc.deliver_notifications(now=at)
        assert (report.sent, report.retrying, report.failed) == (0, 1, 0)
        assert hooks.basic_auth() == ["hook:s3cr3t-pass"]  # the credential is used, as a header
        [row] = svc.notifications(svc.principal("ana@acme"), run)
        assert row["status"] == "pending" and row["attempts"] == 1
        assert "HTTP 500" in row["last_error"]
        assert row["next_attempt_at"] == at + timedelta(seconds=30)
        assert svc.deliver_notifications(now=at + timedelta(seconds=10)).sent == 0  # not due yet

        hooks.status = 200
        report = svc.deliver_notifications(now=at + timedelta(seconds=31))
        assert report.sent == 1
        [row] = svc.notifications(svc.principal("ana@acme"), run)
        assert row["status"] == "sent" and row["attempts"] == 2 and row["last_error"] is None
        # one id for both attempts: the receiver can drop a repeat
        assert len({h["Idempotency-Key"] for h, _ in hooks.received}) == 1
    dump = "\n".join(str(r) for r in svc.store.query("SELECT * FROM notifications"))
    assert "s3cr3t" not in dump


def test_a_webhook_redirect_is_not_followed(tmp_path: Path) -> None:
    with webhook_server() as elsewhere, webhook_server(userinfo="hook:pw@") as hooks:
        hooks.status, hooks.location = 307, elsewhere.url
        svc = _service(tmp_path / "home", policy_copy(tmp_path, webhook_url=hooks.url))
        run = _start(svc, "ana@acme")
        assert svc.deliver_notifications().retrying == 1
        assert elsewhere.received == []  # neither the notice nor the credential went elsewhere
        [row] = svc.notifications(svc.principal("ana@acme"), run)
        assert "HTTP 307" in row["last_error"]


def test_an_unreachable_mail_server_never_blocks_a_decision_and_gives_up_after_its_attempts(
    tmp_path: Path,
) -> None:
    from warden.service.notify import MAX_ATTEMPTS

    dead = policy_copy(tmp_path, smtp_port=9, webhook_url="http://user:pw-secret@127.0.0.1:9/x")
    svc = _service(tmp_path / "home", dead)
    run = _start(svc, "ana@acme")
    outcome = svc.decide(svc.principal("dora@acme"), run, "approve", role="dpo")
    assert outcome.waiting  # the decision went through: its notices wait in the outbox
    pending = {
        (r["event"], r["channel"], r["recipient"]) for r in svc.notifications(svc.principal("ana@acme"), run)
    }
    assert pending == {
        ("approval_waiting", "webhook", None),
        ("approval_waiting", "email", "dora@acme"),
        ("decision", "webhook", None),
        ("decision", "email", "ana@acme"),
    }
    at = utc_naive(None)
    for attempt in range(MAX_ATTEMPTS):
        report = svc.deliver_notifications(now=at + timedelta(days=attempt))
        assert report.sent == 0 and report.retrying + report.failed > 0
    rows = svc.notifications(svc.principal("ana@acme"), run)
    assert {r["status"] for r in rows} == {"failed"}
    assert all(r["attempts"] == MAX_ATTEMPTS for r in rows)
    assert not any("pw-secret" in (r["last_error"] or "") for r in rows)
    assert svc.deliver_notifications(now=at + timedelta(days=30)).errors == []


# --- queue health ------------------------------------------------------------------------------


def test_queue_health_figures_on_a_known_dataset(tmp_path: Path) -> None:
    svc = _service(tmp_path / "home", policy_copy(tmp_path))
    svc.principal("adam@acme", writing=True)
    svc.policies.in_force(may_initialise=True)
    now = utc_naive(None).replace(microsecond=0)
    h = timedelta(hours=1)

    def row(run: str, tenant: str, age: timedelta, sla: timedelta | None) -> approval_queue.QueueRow:
        requested = now - age
        return approval_queue.QueueRow(
            run_id=run,
            root_run_id=run,
            tenant=tenant,
            required_role="dpo",
            requester="ana@acme",
            requested_at=requested,
            runbook="rb",
            runbook_sha256="x",
            policy_sha256=None,
            sla_s=int(sla.total_seconds()) if sla else None,
            due_at=requested + sla if sla else None,
        )

    day = timedelta(days=1)
    rows = [
        # decided: approve after 1 h, 2 h, edit after 3 h (past its 2 h SLA), reject after 1 h
        (row("a1", "acme", 10 * h, day), "approve", 1 * h),
        (row("a2", "acme", 10 * h, day), "approve", 2 * h),
        (row("a3", "acme", 10 * h, 2 * h), "edit", 3 * h),
        (row("a4", "acme", 10 * h, day), "reject", 1 * h),
        (row("a5", "acme", 10 * h, day), "cancelled", 1 * h),
        # pending: 30 min, 2 h, 5 h, 2 d (overdue), 4 d (overdue)
        (row("p1", "acme", h / 2, day), None, None),
        (row("p2", "acme", 2 * h, day), None, None),
        (row("p3", "acme", 5 * h, day), None, None),
        (row("p4", "acme", 2 * day, day), None, None),
        (row("p5", "acme", 4 * day, day), None, None),
        (row("g1", "globex", 3 * h, None), None, None),
    ]
    with svc.store.connect() as con:
        approval_queue.insert_many(con, [r for r, _, _ in rows])
        for r, outcome, after in rows:
            if outcome is not None:
                approval_queue.close(con, r.run_id, outcome, at=r.requested_at + after)
    escalated = svc.escalate_overdue(now=now)
    assert sorted(e.run_id for e in escalated) == ["p4", "p5"]

    acme, globex = svc.queue_health(svc.principal("adam@acme"), now=now)
    assert (acme.tenant, globex.tenant) == ("acme", "globex")
    assert acme.pending == 5
    assert acme.pending_by_age == {"under_1h": 1, "1h_to_4h": 1, "4h_to_24h": 1, "1d_to_3d": 1, "over_3d": 1}
    assert (acme.decided, acme.approved, acme.rejected, acme.edited, acme.withdrawn) == (4, 3, 1, 1, 1)
    assert acme.time_to_approve_p50_s == 7200.0
    assert acme.time_to_approve_p95_s == pytest.approx(7200 + 0.9 * 3600)
    assert (acme.reject_rate, acme.edit_rate) == (0.25, 0.25)
    assert (acme.overdue, acme.escalated_pending, acme.sla_breaches) == (2, 2, 3)
    assert (globex.pending, globex.pending_by_age["1h_to_4h"], globex.decided) == (1, 1, 0)
    assert globex.reject_rate is None and globex.time_to_approve_p50_s is None
    assert acme.to_dict()["at"].endswith("Z")

    # a member sees their own tenants; another tenant's figures are refused
    assert [q.tenant for q in svc.queue_health(svc.principal("dora@acme"))] == ["acme"]
    with pytest.raises(UsageError, match="may not see"):
        svc.queue_health(svc.principal("gwen@globex"), "acme")


# --- comments and versions ---------------------------------------------------------------------


def test_comments_are_a_thread_per_run_for_members_of_its_tenant_and_audited(tmp_path: Path) -> None:
    svc = _service(tmp_path / "home", policy_copy(tmp_path))
    run = _start(svc, "ana@acme")
    svc.comment(svc.principal("dora@acme"), run, "  Why does step 3 read the CRM?  ")
    svc.comment(svc.principal("ana@acme"), run, "The notice names it (§4). token=abcd1234secret")
    thread = svc.comments(svc.principal("adam@acme"), run)
    assert [(c.author, c.text) for c in thread] == [
        ("dora@acme", "Why does step 3 read the CRM?"),
        ("ana@acme", "The notice names it (§4). token=***"),
    ]
    assert thread[0].auth == "asserted"
    for user in ("gwen@globex", "gil@globex"):
        with pytest.raises(NotFound):
            svc.comments(svc.principal(user), run)
        with pytest.raises(NotFound):
            svc.comment(svc.principal(user), run, "hello")
    with pytest.raises(UsageError):
        svc.comment(svc.principal("dora@acme"), run, "   ")
    with pytest.raises(UsageError):
        svc.comment(svc.principal("dora@acme"), run, "x" * 10_001)
    added = _events(svc, "comment_added")
    assert [e["actor"] for e in added] == ["dora@acme", "ana@acme"]
    with svc.store.connect(read_only=True) as con:
        assert all(r.ok for r in [audit.verify_chain(con, "acme")])


def test_a_credential_pasted_into_a_comment_is_masked_in_the_answer_the_thread_and_the_audit(
    tmp_path: Path,
) -> None:
    svc = _service(tmp_path / "home", policy_copy(tmp_path))
    run = _start(svc, "ana@acme")
    svc.accounts.add_user("ana@acme", "acme", "correct horse battery staple")
    token = svc.accounts.issue_token("ana@acme", timedelta(hours=1)).secret
    token_id, secret = token.split("_")[1], token.split("_", 2)[2]
    dora = svc.principal("dora@acme")
    said = [
        svc.comment(dora, run, f"ops note: use {token} for the scrape"),
        svc.comment(dora, run, "db password: hunter2-Corr3ct\napi_key: 'AbC123xyz789'"),
        svc.comment(dora, run, "Password reset: the notice says password: must be 12+ chars"),
    ]
    stored = [c.text for c in svc.comments(dora, run)]
    assert (
        [c.text for c in said]
        == stored
        == [
            f"ops note: use wdn_{token_id}_*** for the scrape",  # the id names the token to revoke
            "db password: ***\napi_key: '***'",
            "Password reset: the notice says password: must be 12+ chars",  # prose stays
        ]
    )
    payloads = " ".join(e["payload_json"] for e in _events(svc, "comment_added"))
    assert secret not in payloads and "hunter2" not in payloads and "AbC123xyz789" not in payloads
    assert f"wdn_{token_id}_***" in payloads


def test_versions_are_the_approved_versions_of_the_runs_runbook(tmp_path: Path) -> None:
    svc = _service(tmp_path / "home", policy_copy(tmp_path))
    first = _start(svc, "ana@acme")
    dora = svc.principal("dora@acme")
    assert svc.versions(dora, first) == []
    svc.decide(dora, first, "approve", role="dpo")
    second = _start(svc, "ana@acme")
    [v] = svc.versions(dora, second)
    assert (v.runbook, v.version_no, v.approved_by, v.decision, v.first_run_id) == (
        "privacy-policy-review",
        1,
        "dora@acme",
        "approve",
        first,
    )
    assert v.definition["runbook"] == "privacy-policy-review"
    with pytest.raises(NotFound):
        svc.versions(svc.principal("gwen@globex"), second)


# --- the policy fields -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("approval", "message"),
    [
        ({"sla": "48"}, "not a duration"),
        ({"sla": "0h"}, "not a positive duration"),
        ({"sla": "2 days"}, "not a duration"),
        ({"sla": "48h", "escalate_to": "boss"}, "escalate_to 'boss' is not one of the tenant's roles"),
        ({"escalate_to": "admin"}, "needs approval.sla"),
    ],
)
def test_the_policy_refuses_a_bad_sla_or_escalation_role(
    tmp_path: Path, approval: dict[str, str], message: str
) -> None:
    from warden.errors import PolicyError
    from warden.governance import load_policy

    path = policy_copy(tmp_path, tweak=lambda d: d["tenants"]["acme"]["approval"].update(approval))
    with pytest.raises(PolicyError, match=message):
        load_policy(path)


def test_sla_durations_parse(tmp_path: Path) -> None:
    from warden.schemas.policy import duration_seconds

    assert [duration_seconds(t) for t in ("48h", "30m", "2d", "1d12h", "90s", "1w")] == [
        172800,
        1800,
        172800,
        129600,
        90,
        604800,
    ]
    svc = _service(tmp_path / "home", policy_copy(tmp_path, sla="30m"))
    run = _start(svc, "ana@acme")
    row = _queue(svc)[run]
    assert row["sla_s"] == 1800 and row["due_at"] == row["requested_at"] + timedelta(minutes=30)


def test_deciding_a_run_twice_is_refused_and_closes_the_row_once(tmp_path: Path) -> None:
    svc = _service(tmp_path / "home", policy_copy(tmp_path))
    run = _start(svc, "ana@acme")
    dora = svc.principal("dora@acme")
    svc.decide(dora, run, "reject", role="dpo", comment="no")
    closed = _queue(svc)[run]["decided_at"]
    with pytest.raises(RunRefused):
        svc.decide(dora, run, "approve", role="dpo")
    assert _queue(svc)[run]["decided_at"] == closed
    with svc.store.connect(read_only=True) as con:
        assert {r["event"] for r in notifications.outbox(con)} == set()  # no channels configured
