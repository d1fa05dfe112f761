"""What a `warden worker` process asks of the service: the context a run's nodes execute in."""

from __future__ import annotations

from typing import Any

from warden.graph.context import RunContext
from warden.service._base import ServiceBase
from warden.service.errors import NotFound
from warden.service.inbox import escalate_run
from warden.service.queue import utc_naive
from warden.store import runs

__all__ = ["WorkerOps"]


class WorkerOps(ServiceBase):
    def run_context(self, run_id: str) -> RunContext:
        """The context a remote worker runs a node of `run_id` in: the policy its tree is bound
        to, this process's analysers and model settings, the live kill switch, and the SLA
        escalation its approval timer runs (activities live in graph/ and cannot import it)."""
        with self.store.connect(read_only=True) as con:
            row = runs.get_run(con, run_id)
        if row is None:
            raise NotFound(run_id)
        ctx = self._context(self.policies.bound(row.get("policy_sha256")))
        ctx.escalate = self._escalate_now
        return ctx

    def _escalate_now(self, run_id: str) -> dict[str, Any] | None:
        """The SLA timer's escalation: exactly what the server's loop does for this run."""
        done = escalate_run(self.store, self.policies, run_id, utc_naive(None))
        return done.to_dict() if done is not None else None
