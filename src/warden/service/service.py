"""The one door to the state: every entry point (CLI, server, worker) calls these operations
with a :class:`Principal`; tenancy, roles, the bound policy and the kill switch are checked
here, once, and nowhere above.

Each group of operations lives in its own module (one concern each); :class:`Service` is
their union over one state directory, so a caller holds one object."""

from __future__ import annotations

from warden.service.deciding import DecisionOps
from warden.service.discussion import CommentOps
from warden.service.governing import PolicyOps
from warden.service.inbox import InboxOps
from warden.service.reading import ReadingOps
from warden.service.resuming import ResumeOps
from warden.service.starting import StartingOps
from warden.service.triaging import TriageOps
from warden.service.working import WorkerOps

__all__ = ["Service"]


class Service(
    StartingOps, DecisionOps, ResumeOps, ReadingOps, TriageOps, InboxOps, CommentOps, PolicyOps, WorkerOps
):
    """Warden's operations over one state directory.

    ``policy`` is the policy file the caller presented (``--policy`` / $WARDEN_POLICY), if any:
    it must be the policy in force; an empty state directory is initialised with it.
    """
