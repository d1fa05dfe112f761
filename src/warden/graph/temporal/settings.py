"""Where the Temporal engine finds its cluster: read from the environment (no Temporal import)."""

from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = [
    "ADDRESS_ENV",
    "ENGINE_ENV",
    "HEARTBEAT_ENV",
    "NAMESPACE_ENV",
    "QUEUE_ENV",
    "WAIT_ENV",
    "TemporalSettings",
]

ENGINE_ENV = "WARDEN_ENGINE"
ADDRESS_ENV = "WARDEN_TEMPORAL_ADDRESS"
NAMESPACE_ENV = "WARDEN_TEMPORAL_NAMESPACE"
QUEUE_ENV = "WARDEN_TEMPORAL_TASK_QUEUE"
HEARTBEAT_ENV = "WARDEN_TEMPORAL_HEARTBEAT_S"
WAIT_ENV = "WARDEN_TEMPORAL_WAIT_S"


@dataclass(frozen=True)
class TemporalSettings:
    address: str = "127.0.0.1:7233"
    namespace: str = "default"
    task_queue: str = "warden"
    heartbeat_s: float = 10.0
    """A worker that stops heartbeating this long is presumed dead: its activity runs elsewhere."""
    wait_s: float = 600.0
    """How long a caller waits for a tree to finish or ask for approval before it is told where
    the tree stands (the tree goes on regardless)."""

    @classmethod
    def from_env(cls) -> TemporalSettings:
        env = os.environ
        return cls(
            address=env.get(ADDRESS_ENV) or cls.address,
            namespace=env.get(NAMESPACE_ENV) or cls.namespace,
            task_queue=env.get(QUEUE_ENV) or cls.task_queue,
            heartbeat_s=float(env.get(HEARTBEAT_ENV) or cls.heartbeat_s),
            wait_s=float(env.get(WAIT_ENV) or cls.wait_s),
        )
