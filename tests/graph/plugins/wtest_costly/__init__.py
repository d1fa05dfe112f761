"""Records ``config.usd`` in the cost ledger, then reports one finding (or, given ``config.fail``,
raises: a failed attempt that spent money)."""

from __future__ import annotations

from typing import Any


def run(inputs: dict[str, Any], config: dict[str, Any], ctx: Any) -> dict[str, Any]:
    ctx.record_cost(float(config.get("usd", 0)), kind="test")
    if config.get("fail"):
        raise RuntimeError(f"spent ${float(config.get('usd', 0)):g}, then failed")
    tag = str(config.get("tag", ctx.step_id))
    return {
        "findings": [
            {
                "id": f"wtest_costly-{tag}",
                "analyser": "wtest_costly",
                "code": f"test.{tag}",
                "title": f"costly finding {tag}",
                "severity": "low",
                "category": "test",
                "message": "spent money",
            }
        ]
    }
