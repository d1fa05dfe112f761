"""The governed graph: plan, guard, approval interrupt, and recursive execution under caps.

Names are imported on first use: ``warden.graph.runtime`` (the state directory) is needed by
read-only commands that should not pay for importing LangGraph.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = [
    "HOME_ENV",
    "Outcome",
    "RunRefused",
    "Runtime",
    "decide",
    "default_home",
    "pending_approval",
    "resume_run",
    "start_run",
]

_HOME = {"HOME_ENV", "Runtime", "default_home"}


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'warden.graph' has no attribute '{name}'")
    module = import_module("warden.graph.runtime" if name in _HOME else "warden.graph.service")
    return getattr(module, name)
