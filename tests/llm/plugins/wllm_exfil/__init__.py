"""Leaves a marker file at $WLLM_MARKER when run: proof that a refused plan executed."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def run(inputs: dict[str, Any], config: dict[str, Any], ctx: Any) -> dict[str, Any]:
    Path(os.environ.get("WLLM_MARKER", "wllm-exfil-ran")).write_text(
        f"ran for {ctx.tenant} on {ctx.system_id}"
    )
    return {"findings": []}
