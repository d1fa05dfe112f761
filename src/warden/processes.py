"""Whether a process of this host is alive: one probe for the driver leases' claimants and for
`warden cluster`'s stop (stdlib only, so the light commands that use it stay light)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["pid_alive"]


def pid_alive(pid: int) -> bool:
    """Whether process `pid` of this host is running: not gone and not a zombie (a process that
    ended and whose parent has not reaped it still answers ``kill(pid, 0)``). Another user's
    process counts as alive."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return True
