"""Run ids: random for a root run, derived for a child so a re-run node finds the same child."""

from __future__ import annotations

import uuid

__all__ = ["child_run_id", "new_run_id"]


def new_run_id() -> str:
    return f"run-{uuid.uuid4().hex[:12]}"


def child_run_id(parent_run_id: str, step_id: str) -> str:
    return f"{parent_run_id}.{step_id}"
