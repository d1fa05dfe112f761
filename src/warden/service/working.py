"""What a `warden worker` process asks of the service: the context a run's nodes execute in."""

from __future__ import annotations

from warden.graph.context import RunContext
from warden.service._base import ServiceBase
from warden.service.errors import NotFound
from warden.store import runs

__all__ = ["WorkerOps"]


class WorkerOps(ServiceBase):
    def run_context(self, run_id: str) -> RunContext:
        """The context a remote worker runs a node of `run_id` in: the policy its tree is bound
        to, this process's analysers and model settings, the live kill switch."""
        with self.store.connect(read_only=True) as con:
            row = runs.get_run(con, run_id)
        if row is None:
            raise NotFound(run_id)
        return self._context(self.policies.bound(row.get("policy_sha256")))
