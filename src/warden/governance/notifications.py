"""Who is told what about an approval, under a policy: the outbox rows for one event.

Three events: ``approval_waiting`` (to the users who may decide it), ``approval_escalated``
(to the tenant's escalation role) and ``decision`` (to the requester). Each configured channel
of the tenant gets its deliveries: one webhook POST per event (naming the recipients), one
e-mail per recipient with an address in the policy. Ids are deterministic (event key, channel,
recipient), so writing the same event twice queues it once.
"""

from __future__ import annotations

from typing import Any, Literal

from warden.governance.policy import LoadedPolicy

__all__ = ["NotificationEvent", "deciders", "deliveries", "holders"]

NotificationEvent = Literal["approval_waiting", "approval_escalated", "decision"]


def holders(policy: LoadedPolicy, tenant: str, role: str) -> list[str]:
    """Users of `tenant` holding `role` under `policy`, sorted."""
    found = policy.policy.tenants.get(tenant)
    if found is None:
        return []
    return sorted(user for user, u in found.users.items() if role in u.roles)


def deciders(policy: LoadedPolicy, tenant: str, role: str, requester: str) -> list[str]:
    """Users who may decide an approval needing `role` that `requester` asked for."""
    found = policy.policy.tenants.get(tenant)
    if found is None:
        return []
    users = holders(policy, tenant, role)
    if not found.approval.allow_self_approval:
        users = [u for u in users if u != requester]
    return users


def deliveries(
    policy: LoadedPolicy,
    *,
    tenant: str,
    event: NotificationEvent,
    key: str,
    users: list[str],
    payload: dict[str, Any],
    run_id: str | None = None,
    root_run_id: str | None = None,
) -> list[dict[str, Any]]:
    """Outbox rows for one event (none when the tenant configures no channel)."""
    found = policy.policy.tenants.get(tenant)
    if found is None:
        return []
    channels = found.notifications
    body = {**payload, "event": event, "tenant": tenant, "run_id": run_id, "recipients": users}
    common = {
        "tenant": tenant,
        "event": event,
        "run_id": run_id,
        "root_run_id": root_run_id,
        "policy_sha256": policy.sha256,
    }
    out: list[dict[str, Any]] = []
    if channels.webhook is not None:
        nid = f"{key}:webhook"
        out.append(
            {
                **common,
                "notification_id": nid,
                "channel": "webhook",
                "recipient": None,
                "address": None,
                "payload": {**body, "id": nid},
            }
        )
    if channels.email is not None:
        for user in users:
            member = found.users.get(user)
            if member is None or not member.email:
                continue
            nid = f"{key}:email:{user}"
            out.append(
                {
                    **common,
                    "notification_id": nid,
                    "channel": "email",
                    "recipient": user,
                    "address": member.email,
                    "payload": {**body, "id": nid},
                }
            )
    return out
