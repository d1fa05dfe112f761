"""At start-up, resume the runs a stopped server (or any dead driver) left `running` mid-step.

The server's workers drive trees in-process; when the server stops or dies, what they were
driving stays `running`. A starting server looks once at the trees mid-work that were last
changed before it started; a tree whose driver lease is held is being driven by a live process
(a CLI on the same state directory, another server) and is left to it; the others are handed to
the workers, which resume each under its bound policy (``Service.resume_orphan``: audited as
``orphan_resumed``, re-checked under the lease). A tree changed less than ``grace_s`` ago is
looked at only once that much time has passed: a CLI that has just recorded a run or claimed a
decision takes the lease a moment later.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from functools import partial

from warden.server.workers import Workers
from warden.service import Service

__all__ = ["SERVER_ACTOR", "resume_orphans"]

log = logging.getLogger("warden.server.orphans")

SERVER_ACTOR = "server@host"
"""The actor of a start-up resume: the server process on the host (no principal; the audit
payload names its host:pid and the driver that died)."""


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)  # naive UTC, as the store keeps times


def resume_orphans(
    service: Service, pool: Workers, *, started: datetime, grace_s: float, stop: threading.Event
) -> list[str]:
    """Hand every orphaned tree to the workers; the root ids handed over."""
    handed: list[str] = []
    try:
        trees = service.in_flight(before=started)
    except Exception:
        log.exception("could not look for runs left running by a stopped server")
        return handed
    for tree in trees:
        left = (tree.last_update + timedelta(seconds=grace_s) - _now()).total_seconds()
        if left > 0 and stop.wait(left):
            return handed
        driver = service.live_driver(tree.root_run_id)
        if driver is not None:
            log.warning("run %s is being driven by %s, which is alive: left to it", tree.root_run_id, driver)
            continue
        log.warning("run %s was left running by a driver that stopped: resuming it", tree.root_run_id)
        pool.submit(tree.root_run_id, partial(service.resume_orphan, tree.root_run_id, actor=SERVER_ACTOR))
        handed.append(tree.root_run_id)
    return handed
