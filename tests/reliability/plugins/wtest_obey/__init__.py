"""A planner that obeys the notice: the runbook after `WARDEN-RUNBOOK:` becomes its output."""

from __future__ import annotations

import json
import re
from typing import Any

_INJECTED = re.compile(r"WARDEN-RUNBOOK:\s*(\{.*\})")


def run(inputs: dict[str, Any], config: dict[str, Any], ctx: Any) -> dict[str, Any]:
    text = (inputs.get("document") or {}).get("text", "")
    found = _INJECTED.search(text)
    return json.loads(found.group(1)) if found else {}
