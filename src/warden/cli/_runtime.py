"""Building the process's Runtime from options and the environment."""

from __future__ import annotations

import os
from pathlib import Path

from warden.errors import UsageError

__all__ = ["home_dir", "open_runtime", "resolve_policy_path", "user_tenants"]

_LAST_POLICY = "policy-path"


def home_dir() -> Path:
    from warden.graph.runtime import default_home

    return default_home()


def resolve_policy_path(policy: Path | None) -> Path:
    """--policy, else $WARDEN_POLICY, else the policy the state directory was last used with."""
    from warden.governance import POLICY_ENV

    if policy:
        return policy
    if os.environ.get(POLICY_ENV):
        return Path(os.environ[POLICY_ENV])
    remembered = home_dir() / _LAST_POLICY
    if remembered.exists():
        return Path(remembered.read_text().strip())
    raise UsageError(
        "no governance policy given", fix=f"pass --policy FILE or set {POLICY_ENV}", code="no_policy"
    )


def open_runtime(policy: Path | None):  # type: ignore[no-untyped-def]
    from warden.governance import load_policy
    from warden.graph.runtime import Runtime
    from warden.llm.config import load_settings

    loaded = load_policy(resolve_policy_path(policy))
    rt = Runtime(home=home_dir(), policy=loaded, llm_settings=load_settings())
    _remember_policy(rt.home / _LAST_POLICY, str(loaded.path))
    return rt


def _remember_policy(where: Path, policy_path: str) -> None:
    """Remember the policy for the next command: only when it changed, and never fatally (a
    read-only state directory or a full disk must not stop a command that reads)."""
    try:
        if where.is_file() and where.read_text().strip() == policy_path:
            return
        where.write_text(policy_path)
    except OSError:
        pass


def user_tenants(policy: Path | None, user: str) -> set[str]:
    """Tenants `user` belongs to; a usage error when none (so nothing leaks to strangers)."""
    from warden.governance import load_policy

    loaded = load_policy(resolve_policy_path(policy))
    found = {name for name, tenant in loaded.policy.tenants.items() if user in tenant.users}
    if not found:
        raise UsageError(f"'{user}' is not a user of any tenant", fix="pass --as with a user from the policy")
    return found
