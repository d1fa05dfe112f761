"""The governed graph: plan, guard, approval interrupt, and recursive execution under caps."""

from warden.graph.runtime import HOME_ENV, Runtime, default_home
from warden.graph.service import Outcome, RunRefused, decide, pending_approval, resume_run, start_run

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
