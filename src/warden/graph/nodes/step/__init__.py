"""step: run the next step of an approved runbook, once, under the tree's caps.

Each step is its own graph superstep, so a crash loses at most the step in flight, and a
child runbook started by an ``execute_workflow`` step runs as a nested graph whose approval
interrupt surfaces at the top. A step already completed in the store is never run again.

The node lives in :mod:`.node`; what it checks before a step in :mod:`.gate`; what a step reads
in :mod:`.inputs`; an analyser step in :mod:`.analyser`; a child run in :mod:`.child`; and
several pure steps in one superstep in :mod:`.batching`.
"""

from warden.graph.nodes.step.batching import (
    BATCH_CPU_S,
    BATCH_WALL_S,
    goes_on,
    starts_in_place,
    superstep_clock,
)
from warden.graph.nodes.step.child import ChildRequest, child_ended
from warden.graph.nodes.step.node import advance, step

__all__ = [
    "BATCH_CPU_S",
    "BATCH_WALL_S",
    "ChildRequest",
    "advance",
    "child_ended",
    "goes_on",
    "starts_in_place",
    "step",
    "superstep_clock",
]
