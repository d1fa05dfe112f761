"""The governed graph: plan, guard, approval interrupt, and recursive execution under caps.

Callers go through :mod:`warden.service`; this package knows nothing of principals. Names are
imported on first use so read-only commands do not pay for importing LangGraph.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = ["EmbeddedEngine", "Outcome", "RunContext", "RunState"]

_HOME = {
    "EmbeddedEngine": "warden.graph.engine",
    "Outcome": "warden.graph.engine",
    "RunContext": "warden.graph.context",
    "RunState": "warden.graph.state",
}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module 'warden.graph' has no attribute '{name}'")
    return getattr(import_module(_HOME[name]), name)
