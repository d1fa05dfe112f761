"""Whether a process of this host is alive, and whether it is still the one that was started: one
probe for the driver leases' claimants and for `warden cluster`'s stop (stdlib only, so the light
commands that use it stay light)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

__all__ = ["pid_alive", "process_start", "same_process"]

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/<pid>/stat from field 3 (state) on. The comm field (2) is in parentheses and may
    itself hold spaces and parentheses, so the fields are split after its last ')'."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rfind(")") + 1 :].split()


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
    fields = _stat_fields(pid)
    return True if not fields else fields[0] != "Z"


def process_start(pid: int) -> str | None:
    """When process `pid` started, as an opaque token: a process that later gets the same pid
    (after the first ended, or after a reboot) has another. On Linux the boot id and the start
    time in clock ticks since boot (/proc/<pid>/stat field 22); elsewhere `ps -o lstart=` (to the
    second). None when it cannot be told (the process is gone, or neither is available)."""
    if Path("/proc/self/stat").exists():
        fields = _stat_fields(pid)
        if not fields or len(fields) < 20:
            return None
        try:
            boot = BOOT_ID.read_text().strip()
        except OSError:
            boot = "-"
        return f"linux:{boot}:{fields[19]}"  # fields[0] is field 3: field 22 is fields[19]
    try:
        done = subprocess.run(
            ["ps", "-o", "lstart=", "-p", str(pid)], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    started = " ".join(done.stdout.split())
    return f"ps:{started}" if done.returncode == 0 and started else None


def same_process(pid: int, started: str) -> bool:
    """Whether `pid` is alive and still the process whose :func:`process_start` was `started`
    (not another that reused the pid)."""
    return pid_alive(pid) and process_start(pid) == started
