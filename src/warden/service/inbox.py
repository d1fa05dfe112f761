"""The approval queue: the inbox each approver sees, its health figures, SLA escalation and the
notification outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from warden.errors import UsageError
from warden.governance.policy import LoadedPolicy
from warden.graph.engine import notice_payload
from warden.schemas.policy import Notifications
from warden.service._base import ServiceBase
from warden.service.policies import PolicyBook
from warden.service.principal import Principal
from warden.service.queue import (
    DUE_SOON_FRACTION,
    DeliveryReport,
    Escalation,
    InboxItem,
    QueueHealth,
    utc_naive,
)
from warden.store import (
    Store,
    approval_queue,
    audit,
    notifications,
    retrying_conflicts,
)

__all__ = ["InboxOps"]


class InboxOps(ServiceBase):
    def inbox(
        self,
        p: Principal,
        *,
        tenant: str | None = None,
        limit: int | None = None,
        offset: int = 0,
        now: datetime | None = None,
    ) -> list[InboxItem]:
        """The pending approvals `p` may decide, oldest first: in each run's bound policy `p`
        holds the required role in its tenant, the run is not `p`'s own request unless that
        tenant allows self-approval, and `p` is signed in where the policy demands it. Read from
        the approval queue alone (no checkpoint); `now` is the clock the SLA states use."""
        if limit is not None and limit < 1:
            raise UsageError(f"limit {limit}: must be at least 1", fix="pass a positive number")
        if offset < 0:
            raise UsageError(f"offset {offset}: must be 0 or more", fix="pass a non-negative number")
        at = utc_naive(now)
        tenants = [t for t in p.tenants if tenant is None or t == tenant]
        if not tenants:
            return []
        with self._one_connection():
            with self.store.connect(read_only=True) as con:
                pairs = approval_queue.pending_policies(con, tenants)
            filters = []
            for name, sha in pairs:
                bound = self.policies.bound(sha)
                held = bound.roles_of(name, p.user)
                rules = bound.policy.tenants[name].approval if name in bound.policy.tenants else None
                if not held or rules is None or (rules.require_authenticated and not p.authenticated):
                    continue
                mine = None if rules.allow_self_approval else p.user
                filters.append(approval_queue.InboxFilter(name, sha, tuple(held), mine))
            with self.store.connect(read_only=True) as con:
                found = approval_queue.inbox(
                    con, filters, at=at, due_soon_fraction=DUE_SOON_FRACTION, limit=limit, offset=offset
                )
        return [InboxItem(*row) for row in found]

    def queue_health(
        self, p: Principal, tenant: str | None = None, *, now: datetime | None = None
    ) -> list[QueueHealth]:
        """The approval queue's figures per tenant: of every tenant for a policy admin, of
        `p`'s own tenants otherwise (or of `tenant`, which must be one of those)."""
        at = utc_naive(now)
        with self._one_connection():
            mine = (
                sorted(self.policies.in_force(may_initialise=False).policy.tenants) if p.admin else p.tenants
            )
            if tenant is not None:
                if tenant not in mine:
                    raise UsageError(
                        f"'{p.user}' may not see the approval queue of tenant '{tenant}'",
                        fix="use one of: " + (", ".join(mine) or "(none)"),
                        code="forbidden",
                    )
                mine = [tenant]
            with self.store.connect(read_only=True) as con:
                found = {r["tenant"]: r for r in approval_queue.health(con, mine, at)}
        return [_health(name, found.get(name), at) for name in mine]

    def escalate_overdue(self, now: datetime | None = None) -> list[Escalation]:
        """Escalate, once, every pending approval past its SLA under the policy its run is bound
        to: an ``approval_escalated`` audit event (idempotent key), the queue row marked, and a
        notice to the escalation role's users, in one transaction per approval. The due time is
        data, so a restarted process escalates what came due while it was down and nothing
        twice; a second caller racing this one (another server, or the run's Temporal timer)
        loses the row and skips it."""
        at = utc_naive(now)
        done: list[Escalation] = []
        if not self.store.exists():  # a fresh state directory: nothing waits yet
            return done
        with self._one_connection():
            with self.store.connect(read_only=True) as con:
                due = approval_queue.overdue(con, at)
            for row in due:
                escalated = escalate_row(self.store, self.policies, row, at)
                if escalated is not None:
                    done.append(escalated)
        return done

    def escalate_due(self, run_id: str, now: datetime | None = None) -> Escalation | None:
        """Escalate the pending approval of `run_id` if it is past its due time (what the
        Temporal engine's SLA timer asks when it fires): the same change as
        :meth:`escalate_overdue`, once; None when it is not due, decided or escalated already."""
        return escalate_run(self.store, self.policies, run_id, utc_naive(now))

    def deliver_notifications(self, *, now: datetime | None = None, limit: int = 100) -> DeliveryReport:
        """Send the outbox's due notifications (at most `limit`): webhook and SMTP, retried with
        backoff, failures recorded; a server's loop calls this every few seconds."""
        from warden.service.notify import deliver

        if not self.store.exists():  # a fresh state directory: nothing to send
            return DeliveryReport()
        live: list[LoadedPolicy] = []

        def channels_for(tenant: str, sha: str | None) -> list[Notifications]:
            if not live:
                live.append(self.policies.live())
            options = []
            if tenant in live[0].policy.tenants:
                options.append(live[0].policy.tenants[tenant].notifications)
            if sha:
                bound = self.policies.bound(sha)
                if tenant in bound.policy.tenants:
                    options.append(bound.policy.tenants[tenant].notifications)
            return options

        return deliver(self.store, channels_for, at=utc_naive(now), limit=limit)

    def notifications(self, p: Principal, run_id: str) -> list[dict[str, Any]]:
        """The notifications about a run `p` may see, with their delivery state."""
        self._visible_run(p, run_id)
        with self.store.connect(read_only=True) as con:
            return notifications.of_run(con, run_id)


def _health(tenant: str, row: dict[str, Any] | None, at: datetime) -> QueueHealth:
    r = row or {}
    decided = int(r.get("decided") or 0)

    def rate(n: Any) -> float | None:
        return round(int(n or 0) / decided, 4) if decided else None

    def seconds(v: Any) -> float | None:
        return round(float(v), 3) if v is not None else None

    return QueueHealth(
        tenant=tenant,
        at=at,
        pending=int(r.get("pending") or 0),
        pending_by_age={name: int(r.get(name) or 0) for name, _ in approval_queue.AGE_BUCKETS},
        overdue=int(r.get("overdue") or 0),
        escalated_pending=int(r.get("escalated_pending") or 0),
        escalated_total=int(r.get("escalated_total") or 0),
        decided=decided,
        approved=int(r.get("approved") or 0),
        rejected=int(r.get("rejected") or 0),
        edited=int(r.get("edited") or 0),
        withdrawn=int(r.get("withdrawn") or 0),
        time_to_approve_p50_s=seconds(r.get("approve_p50_s")),
        time_to_approve_p95_s=seconds(r.get("approve_p95_s")),
        reject_rate=rate(r.get("rejected")),
        edit_rate=rate(r.get("edited")),
        sla_breaches=int(r.get("sla_breaches") or 0),
    )


def escalate_run(store: Store, policies: PolicyBook, run_id: str, at: datetime) -> Escalation | None:
    """One run's approval escalated if overdue at `at` (shared by the service and the worker)."""
    if not store.exists():
        return None
    with store.connect(read_only=True) as con:
        row = approval_queue.get(con, run_id)
    if row is None or row["decided_at"] is not None or row["escalated_at"] is not None:
        return None
    if row["due_at"] is None or row["due_at"] > at:
        return None
    return escalate_row(store, policies, row, at)


def escalate_row(store: Store, policies: PolicyBook, row: dict[str, Any], at: datetime) -> Escalation | None:
    """Escalate one overdue queue row (the server loop's and the SLA timer's one code path);
    None when another caller escalated it first."""
    from warden.governance.notifications import holders

    bound = policies.bound(row["policy_sha256"])
    role = row["escalate_to"] or row["required_role"]
    users = holders(bound, row["tenant"], role)
    key = f"{row['run_id']}:approval_escalated:{row['runbook_sha256']}"
    if not _escalate_one(store, row, key, role, users, bound, at):
        return None
    return Escalation(
        run_id=row["run_id"],
        root_run_id=row["root_run_id"],
        tenant=row["tenant"],
        required_role=row["required_role"],
        escalate_to=role,
        due_at=row["due_at"],
        escalated_at=at,
        notified=users,
    )


def _escalate_one(
    store: Store,
    row: dict[str, Any],
    key: str,
    role: str,
    users: list[str],
    bound: LoadedPolicy,
    at: datetime,
) -> bool:
    """One escalation in one transaction; False when another caller escalated it first. A
    transaction that loses a race (the row, or the tenant's audit chain) is retried."""
    from warden.governance.notifications import deliveries

    def once() -> bool:
        with store.connect() as con:
            if not approval_queue.mark_escalated(con, row["run_id"], at):
                return False
            audit.audit(
                con,
                run_id=row["run_id"],
                root_run_id=row["root_run_id"],
                tenant=row["tenant"],
                actor="warden",
                event="approval_escalated",
                key=key,
                payload={
                    "required_role": row["required_role"],
                    "escalate_to": role,
                    "requested_at": row["requested_at"].isoformat() + "Z",
                    "due_at": row["due_at"].isoformat() + "Z",
                    "sla_s": row["sla_s"],
                    "notified": users,
                    "policy_sha256": row["policy_sha256"],
                },
            )
            notifications.enqueue(
                con,
                deliveries(
                    bound,
                    tenant=row["tenant"],
                    event="approval_escalated",
                    key=key,
                    users=users,
                    run_id=row["run_id"],
                    root_run_id=row["root_run_id"],
                    payload={**notice_payload(row), "escalate_to": role},
                ),
            )
        return True

    return retrying_conflicts(once)
