"""The `warden` CLI as the attack tests run it: a real subprocess on one state directory and
policy file, never through a server (WARDEN_SERVER and WARDEN_TOKEN are dropped)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

__all__ = ["warden_cli"]


def warden_cli(
    home: Path, policy: Path, *args: str | bytes, timeout: float = 300, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run `python -m warden ARGS` with `home` and `policy`; `env` adds variables. Output that
    is not UTF-8 is decoded with U+FFFD, so a test can still assert on it."""
    full = {**os.environ, "WARDEN_HOME": str(home), "WARDEN_POLICY": str(policy), **env}
    for name in ("WARDEN_SERVER", "WARDEN_TOKEN"):
        full.pop(name, None)
    # WARDEN_LEDGER_URL is kept: set only under WARDEN_TEST_LEDGER=postgres (tests/conftest.py)
    return subprocess.run(
        [sys.executable, "-m", "warden", *args],
        env=full,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=timeout,
    )
