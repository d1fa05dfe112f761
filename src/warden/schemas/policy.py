"""The governance policy: tenants, who may approve, what may run, where, and how much.

One validated YAML file. Nothing here is enabled by default that widens what may run:
auto-approval exists only where a rule is written, and self-approval is off unless allowed.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from typing import Literal

from pydantic import Field, field_validator, model_validator

from warden.schemas._base import SLUG_PATTERN, StrictModel
from warden.schemas.durations import parse_duration
from warden.schemas.runbook import Limits

__all__ = [
    "RESERVED_ACTORS",
    "ApprovalPolicy",
    "AutoApprovalRule",
    "EmailChannel",
    "GovernancePolicy",
    "KillSwitch",
    "Notifications",
    "OidcProvider",
    "System",
    "SystemType",
    "Tenant",
    "User",
    "WebhookChannel",
    "duration_seconds",
    "plausible_user",
    "user_id_problem",
]

SystemType = Literal["sqlite", "duckdb", "csv", "parquet", "source", "jsonl", "postgres"]
"""Kinds of system in a tenant's inventory.

- ``sqlite`` / ``duckdb``: a database file.
- ``csv`` / ``parquet``: a file, or a folder of them.
- ``source``: a source-code folder (scanned for SDKs and endpoints).
- ``jsonl``: log files, one JSON object per line.
- ``postgres``: a database reached by DSN (``location`` holds the DSN, no path check).
"""


RESERVED_ACTORS = frozenset({"operator@host", "server@host", "warden", "-"})
"""Actors the audit trail names for acts no policy user did: the host operator's account
management, the server's own (orphan runs), the system's steps, an identity that names nobody.
A policy user so named would have their acts audited as the host's or the system's."""


def plausible_user(user: str) -> bool:
    """Whether `user` could be a user id at all: not empty, not too long, and no whitespace,
    control character or lone surrogate (which no policy names, and which a ledger may refuse
    to store or compare: Postgres refuses a NUL). Callers answer any other name like an
    unknown user, before it reaches the store."""
    return 0 < len(user) <= 320 and not any(
        ch.isspace() or unicodedata.category(ch) in ("Cc", "Cs") for ch in user
    )


def user_id_problem(user: str) -> str | None:
    """Why `user` cannot be a policy user id (or admin), or None when it can."""
    if user in RESERVED_ACTORS:
        return (
            f"user id '{user}' is reserved: the audit trail names the host operator, the server "
            "or the system by it; choose another id for this person"
        )
    if not plausible_user(user):
        return (
            f"user id {user!r} is empty, longer than 320 characters, or has whitespace or a control "
            "character; use an id such as name@org"
        )
    return None


def _user_ids(users: Iterable[str]) -> None:
    """Refuse the first user id that cannot be one (:func:`user_id_problem`)."""
    for user in users:
        problem = user_id_problem(user)
        if problem is not None:
            raise ValueError(problem)


def _no_nul(path: str) -> str:
    """Paths are resolved on every guard run; a NUL byte made that raise ValueError."""
    if "\x00" in path:
        raise ValueError("a path cannot contain a NUL byte ('\\0')")
    return path


class System(StrictModel):
    """One system the tenant owns and Warden may be asked to scan."""

    id: str = Field(pattern=SLUG_PATTERN)
    type: SystemType
    location: str = Field(min_length=1, description="Path (relative to the policy file) or DSN.")
    owner: str = Field(min_length=1)
    description: str | None = None
    tags: list[str] = Field(default_factory=list, description="Words the planner matches on.")

    @field_validator("location")
    @classmethod
    def _location_is_a_path(cls, value: str) -> str:
        return _no_nul(value)


def duration_seconds(text: str) -> int:
    """Seconds in a duration string (``48h`` -> 172800, ``1d12h``, ``90s``, ``1w``); ValueError
    when it is not a positive one."""
    total = parse_duration(text, compound=True)
    if total is None:
        raise ValueError(f"'{text}' is not a duration: write e.g. 48h, 30m, 2d or 1d12h")
    if total <= 0:
        raise ValueError(f"'{text}' is not a positive duration")
    return total


class User(StrictModel):
    """A person who may request or approve runs in a tenant."""

    roles: list[str] = Field(min_length=1)
    name: str | None = None
    email: str | None = Field(
        default=None,
        pattern=r"^[^@\s<>]+@[^@\s<>]+$",
        description="Where notifications to this user are mailed (when the tenant configures e-mail).",
    )


class KillSwitch(StrictModel):
    """When engaged, no run starts and running ones stop before their next step."""

    engaged: bool = False
    reason: str | None = None


class AutoApprovalRule(StrictModel):
    """A runbook matching every condition is approved without a human, and recorded as such."""

    name: str = Field(pattern=SLUG_PATTERN)
    runbooks: list[str] = Field(default_factory=list, description="Runbook names; empty = any.")
    analysers: list[str] = Field(
        min_length=1, description="The runbook may use only these analysers (inline children too)."
    )
    max_cost_usd: float = Field(default=0.0, ge=0)
    max_depth: int = Field(default=0, ge=0, description="Highest run depth the rule applies at.")
    model_calls: bool = Field(
        default=False,
        description="May approve a runbook with steps that may call a language model (an analyser "
        "that uses one, with a model configured). Off by default: what a model call costs and writes "
        "is not known when the rule is applied, and the guard's estimate counts only declared costs.",
    )


class ApprovalPolicy(StrictModel):
    """Who approves what in a tenant, and how long a decision may wait."""

    required_roles: list[str] = Field(
        default_factory=list,
        description="A runbook's approval role must be one of these (empty: any role of the tenant).",
    )
    allow_self_approval: bool = False
    triage_roles: list[str] | None = Field(
        default=None,
        description="Roles whose holders may triage the tenant's findings (mark them false_positive, "
        "accepted_risk or fixed); unset: the approval roles (required_roles, or any role when empty).",
    )
    require_authenticated: bool = Field(
        default=False,
        description="Refuse decisions from asserted identities (the local CLI's --as): only people "
        "signed in to the server (password, token or OIDC) may decide.",
    )
    auto_approve: list[AutoApprovalRule] = Field(default_factory=list)
    sla: str | None = Field(
        default=None,
        description="How long an approval may wait before it is overdue and escalated (48h, 30m, 2d).",
    )
    escalate_to: str | None = Field(
        default=None,
        description="The role told when an approval passes its SLA (default: the required role again).",
    )

    @field_validator("sla")
    @classmethod
    def _sla_is_a_duration(cls, value: str | None) -> str | None:
        if value is not None:
            duration_seconds(value)
        return value

    @model_validator(mode="after")
    def _escalation_needs_an_sla(self) -> ApprovalPolicy:
        if self.escalate_to is not None and self.sla is None:
            raise ValueError("approval.escalate_to needs approval.sla (when is an approval overdue?)")
        return self

    @property
    def sla_seconds(self) -> int | None:
        return duration_seconds(self.sla) if self.sla else None


class WebhookChannel(StrictModel):
    """Notifications POSTed as JSON to one URL."""

    url: str = Field(pattern=r"^https?://", description="http(s) URL; credentials in it are never logged.")
    timeout_s: float = Field(default=10.0, gt=0, le=120)


class EmailChannel(StrictModel):
    """Notifications mailed over SMTP to the users' ``email`` addresses."""

    smtp_host: str = Field(min_length=1)
    smtp_port: int = Field(default=25, ge=1, le=65535)
    from_: str = Field(alias="from", pattern=r"^[^@\s<>]+@[^@\s<>]+$")
    starttls: bool = False
    timeout_s: float = Field(default=10.0, gt=0, le=120)


class Notifications(StrictModel):
    """Where a tenant's approval notifications go (none configured: none are sent)."""

    webhook: WebhookChannel | None = None
    email: EmailChannel | None = None


ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"


class OidcProvider(StrictModel):
    """Sign-in through an OpenID Connect provider (the authorization code flow with PKCE).

    The provider proves who someone is; the policy still says who they are to Warden: the
    ``user_claim`` of a verified ID token must name a user of the policy (``match: user``: the
    claim's value is the policy's user id; ``match: email``: it equals a policy user's ``email``),
    or the sign-in is refused. The client secret is never written here: ``client_secret_env``
    names the environment variable of the server process that holds it (none: a public client,
    PKCE only)."""

    name: str = Field(min_length=1, max_length=60, description='Shown as "Sign in with NAME".')
    issuer: str = Field(
        pattern=r"^https?://[^\s]+$",
        description="The provider's issuer URL: ID tokens must carry exactly this `iss`.",
    )
    discovery_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s]+$",
        description="Its metadata (default: ISSUER/.well-known/openid-configuration).",
    )
    client_id: str = Field(min_length=1, description="Warden's client id there (the ID token's audience).")
    client_secret_env: str | None = Field(
        default=None,
        pattern=ENV_NAME_PATTERN,
        description="Name of the environment variable holding the client secret (never the secret).",
    )
    scopes: list[str] = Field(default_factory=lambda: ["openid", "email"])
    user_claim: str = Field(default="email", min_length=1, description="The ID token claim naming the user.")
    match: Literal["user", "email"] = Field(
        default="email",
        description="`email`: the claim equals a policy user's `email`; `user`: it is the policy's user id.",
    )
    redirect_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s]+/sign-in/oidc/callback$",
        description="The callback URL registered at the provider (default: derived from the request; "
        "set it behind a reverse proxy).",
    )

    @field_validator("scopes")
    @classmethod
    def _openid_scope(cls, value: list[str]) -> list[str]:
        if "openid" not in value:
            raise ValueError("oidc.scopes must include 'openid'")
        return value

    @property
    def metadata_url(self) -> str:
        return self.discovery_url or self.issuer.rstrip("/") + "/.well-known/openid-configuration"


class Tenant(StrictModel):
    """An organisation: its people, what it may run, and its systems."""

    name: str | None = None
    roles: list[str] = Field(min_length=1, description="Roles that exist in this tenant.")
    users: dict[str, User] = Field(default_factory=dict)
    analysers: list[str] = Field(description="Analysers this tenant may run.")
    models: list[str] = Field(default_factory=list, description="Model names the tenant may use.")
    allowed_roots: list[str] = Field(
        default_factory=list, description="Folders (relative to the policy file) steps may read."
    )
    document_roots: list[str] = Field(
        default_factory=list,
        description="Folders (relative to the policy file) documents may be analysed from; "
        "uploads into the state directory are always allowed.",
    )
    systems: list[System] = Field(default_factory=list)
    approval: ApprovalPolicy = Field(default_factory=ApprovalPolicy)
    limits: Limits = Field(default_factory=Limits, description="Tenant caps, within the global ones.")
    kill_switch: KillSwitch = Field(default_factory=KillSwitch)
    notifications: Notifications = Field(default_factory=Notifications)

    @field_validator("allowed_roots", "document_roots")
    @classmethod
    def _roots_are_paths(cls, value: list[str]) -> list[str]:
        return [_no_nul(root) for root in value]

    @field_validator("users")
    @classmethod
    def _user_ids_are_ids(cls, value: dict[str, User]) -> dict[str, User]:
        _user_ids(value)
        return value

    @model_validator(mode="after")
    def _references_are_consistent(self) -> Tenant:
        known = set(self.roles)
        for user_id, user in self.users.items():
            unknown = sorted(set(user.roles) - known)
            if unknown:
                raise ValueError(f"user '{user_id}' has roles {unknown} not listed in the tenant's roles")
        unknown = sorted(set(self.approval.required_roles) - known)
        if unknown:
            raise ValueError(f"approval.required_roles {unknown} are not listed in the tenant's roles")
        if self.approval.escalate_to is not None and self.approval.escalate_to not in known:
            raise ValueError(
                f"approval.escalate_to '{self.approval.escalate_to}' is not one of the tenant's roles"
            )
        unknown = sorted(set(self.approval.triage_roles or []) - known)
        if unknown:
            raise ValueError(f"approval.triage_roles {unknown} are not listed in the tenant's roles")
        ids = [s.id for s in self.systems]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"system ids {dupes} are used twice")
        return self


class GovernancePolicy(StrictModel):
    """The whole governance file."""

    version: Literal[1] = 1
    limits: Limits = Field(
        default_factory=lambda: Limits(
            max_depth=3, max_cost_usd=10.0, max_duration_s=3600, step_timeout_s=600
        ),
        description="Global caps; tenants and runbooks may only lower them.",
    )
    kill_switch: KillSwitch = Field(default_factory=KillSwitch)
    admins: list[str] = Field(
        default_factory=list,
        description="Users who may put a new policy in force and engage or release kill switches.",
    )
    tenants: dict[str, Tenant] = Field(min_length=1)
    oidc: OidcProvider | None = Field(
        default=None, description="Optional sign-in to the server through an OpenID Connect provider."
    )

    @field_validator("admins")
    @classmethod
    def _admin_ids_are_ids(cls, value: list[str]) -> list[str]:
        _user_ids(value)
        return value

    @model_validator(mode="after")
    def _tenant_names_are_slugs(self) -> GovernancePolicy:
        import re

        for name in self.tenants:
            if not re.match(SLUG_PATTERN, name):
                raise ValueError(f"tenant name '{name}' must be lower-case letters, digits, - or _")
        return self
