"""Sleeps ``config.seconds``, then reports one finding whose id is derived from ``config.tag``."""

from __future__ import annotations

import time
from typing import Any


def finding(tag: str, analyser: str) -> dict[str, Any]:
    return {
        "id": f"{analyser}-{tag}",
        "analyser": analyser,
        "code": f"test.{tag}",
        "title": f"test finding {tag}",
        "severity": "low",
        "category": "test",
        "message": f"reported by {analyser} for tag {tag}",
    }


def run(inputs: dict[str, Any], config: dict[str, Any], ctx: Any) -> dict[str, Any]:
    time.sleep(float(config.get("seconds", 0)))
    return {"findings": [finding(str(config.get("tag", ctx.step_id)), "wtest_slow")]}
