"""Loading the governance policy and answering the questions every stage asks of it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from warden.errors import LoadError, PolicyError, UsageError
from warden.runbooks.hashing import sha256_of
from warden.safeload import load_model, parse_text, read_text
from warden.schemas.policy import GovernancePolicy, System, Tenant
from warden.schemas.runbook import Limits

__all__ = ["POLICY_ENV", "LoadedPolicy", "load_policy", "load_policy_text"]

POLICY_ENV = "WARDEN_POLICY"


@dataclass(frozen=True)
class LoadedPolicy:
    """A validated policy, where it came from (relative paths resolve there) and its hash."""

    policy: GovernancePolicy
    path: Path
    sha256: str
    text: str = ""
    """The file's text as loaded: what the store keeps, so a run can be bound to it."""

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    @cached_property
    def sha256_apart_from_switches(self) -> str:
        """The hash of what the policy governs with every kill switch left out: a switch is
        thrown by `warden policy kill-switch` (a new version in force), so a file presented
        with ``--policy`` is still the policy in force when only its switches differ."""
        data = self.policy.model_dump(mode="json")
        data.pop("kill_switch", None)
        for tenant in data.get("tenants", {}).values():
            tenant.pop("kill_switch", None)
        return sha256_of(data)

    @property
    def engaged_switches(self) -> frozenset[str]:
        """The kill switches engaged: ``"*"`` for the global one, else tenant names."""
        engaged = {name for name, tenant in self.policy.tenants.items() if tenant.kill_switch.engaged}
        return frozenset(engaged | ({"*"} if self.policy.kill_switch.engaged else set()))

    def tenant(self, name: str) -> Tenant:
        """The tenant, or a usage error listing the ones that exist."""
        try:
            return self.policy.tenants[name]
        except KeyError:
            known = ", ".join(sorted(self.policy.tenants))
            raise UsageError(
                f"unknown tenant '{name}' in {self.path}",
                fix=f"use one of: {known}",
                code="unknown_tenant",
            ) from None

    def roles_of(self, tenant: str, user: str) -> list[str]:
        """The roles `user` holds in `tenant` (empty when not a member)."""
        member = self.policy.tenants.get(tenant)
        found = member.users.get(user) if member else None
        return list(found.roles) if found else []

    def triage_roles(self, tenant: str) -> list[str]:
        """Roles that may triage the tenant's findings: ``approval.triage_roles``, else the
        approval roles (``required_roles``; every role of the tenant when those are empty)."""
        member = self.tenant(tenant)
        if member.approval.triage_roles is not None:
            return list(member.approval.triage_roles)
        return list(member.approval.required_roles or member.roles)

    def find_system(self, system_id: str) -> tuple[str, System] | None:
        """(tenant, system) for a system id in any tenant's inventory."""
        for name, tenant in self.policy.tenants.items():
            for system in tenant.systems:
                if system.id == system_id:
                    return name, system
        return None

    def document_roots(self, tenant: str) -> list[Path]:
        """Folders the tenant's documents may be read from, resolved against the policy's folder."""
        return [resolve(self.base_dir, root) for root in self.tenant(tenant).document_roots]

    def allowed_roots(self, tenant: str) -> list[Path]:
        """The tenant's allowed roots, resolved against the policy's folder."""
        return [resolve(self.base_dir, root) for root in self.tenant(tenant).allowed_roots]

    def effective_limits(self, tenant: str) -> Limits:
        """The tighter of the global and the tenant caps, field by field."""
        return tighter(self.policy.limits, self.tenant(tenant).limits)

    def kill_switch_reason(self, tenant: str) -> str | None:
        """Why runs are stopped for `tenant`, or None when they may run."""
        for switch in (self.policy.kill_switch, self.tenant(tenant).kill_switch):
            if switch.engaged:
                return switch.reason or "kill switch engaged"
        return None


def tighter(*limits: Limits) -> Limits:
    """Field-wise minimum of the caps that are set."""
    out: dict[str, float | int | None] = {}
    for name in Limits.model_fields:
        values = [getattr(lim, name) for lim in limits if getattr(lim, name) is not None]
        out[name] = min(values) if values else None
    return Limits.model_validate(out)


def resolve(base: Path, path: str) -> Path:
    """`path` (absolute, ~, or relative to `base`) made absolute with symlinks and '..' resolved."""
    p = Path(os.path.expanduser(path))
    return (p if p.is_absolute() else base / p).resolve()


def load_policy(path: str | Path | None = None) -> LoadedPolicy:
    """Load the policy from `path`, or from $WARDEN_POLICY when no path is given."""
    if path is None:
        env = os.environ.get(POLICY_ENV)
        if not env:
            raise UsageError(
                "no governance policy given",
                fix=f"pass --policy FILE or set {POLICY_ENV}",
                code="no_policy",
            )
        path = env
    p = Path(path)
    if not p.is_file():
        raise UsageError(
            f"{p}: policy file not found", fix="check the --policy path or $WARDEN_POLICY", code="no_policy"
        )
    try:
        text = read_text(p)
    except LoadError as exc:
        raise PolicyError(exc.reason, source=str(p), line=exc.line, fix=exc.fix) from None
    return load_policy_text(text, p.resolve())


def load_policy_text(text: str, path: Path) -> LoadedPolicy:
    """A policy from its text, as if read from `path` (its relative paths resolve beside it)."""
    try:
        parsed = parse_text(text, source=str(path))
    except LoadError as exc:
        raise PolicyError(exc.reason, source=str(path), line=exc.line, fix=exc.fix) from None
    policy = load_model(GovernancePolicy, parsed, what="policy", error=PolicyError)
    return LoadedPolicy(policy=policy, path=path, sha256=sha256_of(policy), text=text)
