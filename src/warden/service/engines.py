"""Which execution engine a service drives: $WARDEN_ENGINE names it (embedded by default)."""

from __future__ import annotations

import os
from pathlib import Path

from warden.errors import UsageError
from warden.graph.engine import EmbeddedEngine, Engine
from warden.graph.temporal.settings import ENGINE_ENV, TemporalSettings

__all__ = ["ENGINES", "engine_for"]

ENGINES = ("embedded", "temporal")


def engine_for(home: Path) -> Engine:
    """The engine $WARDEN_ENGINE names: `embedded` (the default) or `temporal`."""
    name = (os.environ.get(ENGINE_ENV) or "embedded").strip().lower()
    if name == "embedded":
        return EmbeddedEngine(home / "checkpoints.sqlite")
    if name == "temporal":
        try:
            from warden.graph.temporal.engine import TemporalEngine
        except ImportError as exc:  # the SDK is an extra: the embedded engine does not need it
            raise UsageError(
                f"{ENGINE_ENV}=temporal needs the Temporal SDK, which is not installed ({exc.name})",
                fix="pip install 'warden[temporal]'",
                code="engine_missing",
            ) from None
        return TemporalEngine(TemporalSettings.from_env())
    raise UsageError(
        f"{ENGINE_ENV}={name!r}: unknown engine",
        fix="set it to one of: " + ", ".join(ENGINES),
        code="bad_engine",
    )
