"""Sleeps ``config.seconds`` (or, given ``config.until``, until a file of that name exists in
the directory ``$WTEST_SIGNALS`` names, at most ``config.seconds``), then reports one finding
whose id is derived from ``config.tag``. (A name, not a path: the guard refuses paths.)"""

from __future__ import annotations

import os
import time
from pathlib import Path
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
    seconds = float(config.get("seconds", 0))
    if "until" in config and os.environ.get("WTEST_SIGNALS"):  # a test says when: no race
        signal = Path(os.environ["WTEST_SIGNALS"]) / str(config["until"])  # with a loaded clock
        deadline = time.monotonic() + seconds
        while not signal.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    else:
        time.sleep(seconds)
    return {"findings": [finding(str(config.get("tag", ctx.step_id)), "wtest_slow")]}
