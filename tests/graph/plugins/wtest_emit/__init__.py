"""A planner stand-in: returns ``config.runbook`` unchanged, as a generated runbook."""

from __future__ import annotations

import copy
from typing import Any


def run(inputs: dict[str, Any], config: dict[str, Any], ctx: Any) -> dict[str, Any]:
    return copy.deepcopy(config["runbook"])
