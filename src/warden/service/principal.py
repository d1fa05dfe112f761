"""Who is asking: a user, how they were authenticated, and the tenants and roles they hold."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from warden.governance.policy import LoadedPolicy
from warden.schemas.approval import AuthMethod

__all__ = ["AuthMethod", "Principal", "principal_for"]


@dataclass(frozen=True)
class Principal:
    """A person acting through an entry point.

    ``memberships`` maps each tenant the user belongs to onto the roles held there, as the policy
    in force said when the principal was built; decisions are checked again against the policy
    a run is bound to. ``admin`` marks a user the policy lets change policies and kill switches.
    """

    user: str
    auth: AuthMethod
    memberships: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    admin: bool = False

    @property
    def tenants(self) -> list[str]:
        return sorted(self.memberships)

    def roles_in(self, tenant: str) -> tuple[str, ...]:
        return self.memberships.get(tenant, ())

    def member_of(self, tenant: str) -> bool:
        return tenant in self.memberships

    @property
    def authenticated(self) -> bool:
        return self.auth != "asserted"


def principal_for(policy: LoadedPolicy, user: str, auth: AuthMethod) -> Principal | None:
    """The principal `user` is under `policy`; None when the policy does not know them."""
    memberships = {
        name: tuple(tenant.users[user].roles)
        for name, tenant in policy.policy.tenants.items()
        if user in tenant.users
    }
    admin = user in policy.policy.admins
    if not memberships and not admin:
        return None
    return Principal(user=user, auth=auth, memberships=memberships, admin=admin)
