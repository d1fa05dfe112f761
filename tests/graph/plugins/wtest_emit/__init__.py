"""A planner stand-in: returns ``config.runbook`` unchanged, as a generated runbook.

With ``oversize_int`` it adds a number past 64 bits to the first step's config, as a buggy or
steered planner might: no checkpoint can hold it, and no runbook file could carry it.
"""

from __future__ import annotations

import copy
from typing import Any


def run(inputs: dict[str, Any], config: dict[str, Any], ctx: Any) -> dict[str, Any]:
    generated = copy.deepcopy(config["runbook"])
    if config.get("oversize_int"):
        generated["steps"][0].setdefault("config", {})["n"] = 2**70
    return generated
