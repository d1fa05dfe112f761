"""What the CLI builds before calling the service: the service over the state directory, and
the principal (the local CLI can only assert who you are: ``--as`` or $WARDEN_USER)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from warden.graph.context import StepProgress
    from warden.service import Principal, Service

__all__ = ["USER_ENV", "home_dir", "open_service", "presented_policy", "principal"]

USER_ENV = "WARDEN_USER"


def home_dir() -> Path:
    from warden.store.home import default_home

    return default_home()


def presented_policy(policy: Path | None) -> Path | None:
    """--policy, else $WARDEN_POLICY, else None (the policy in force is used)."""
    from warden.governance import POLICY_ENV

    if policy:
        return policy
    return Path(os.environ[POLICY_ENV]) if os.environ.get(POLICY_ENV) else None


def open_service(policy: Path | None = None, *, llm: bool = True) -> Service:
    """The service; on a terminal, long runs report each step on stderr (nothing when piped)."""
    import sys

    from warden.llm.config import load_settings
    from warden.service import Service

    service = Service(
        home_dir(), policy=presented_policy(policy), llm_settings=load_settings() if llm else None
    )
    if sys.stderr.isatty():
        service.on_step = _show_step
    return service


def _show_step(progress: StepProgress) -> None:
    from warden.cli._output import err_console, plain

    what = progress.analyser or "child runbook"
    indent = "  " * progress.depth
    err_console.print(
        f"[dim]{indent}step {progress.number} of {progress.total}: {plain(progress.step_id)} "
        f"({plain(what)}), {progress.elapsed_s:.1f}s so far[/]"
    )


def principal(service: Service, user: str | None, *, writing: bool = False) -> Principal:
    """--as, else $WARDEN_USER; asserted, since the shell proves nothing about who typed it."""
    return service.principal(user or os.environ.get(USER_ENV), "asserted", writing=writing)
