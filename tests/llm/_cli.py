"""Running ``python -m warden`` in a fresh process against one state directory, with only the
variables a test gives configuring the model (tests/graph's `Warden` keeps the caller's)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from _support import ACME_NOTICE, PLUGINS
from _wardencli import Done


def warden(home: Path, *args: str, env: dict[str, str] | None = None, timeout_s: float = 300) -> Done:
    """One CLI command; only the variables given (and the test analysers' folder) configure it."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("WARDEN_", "OPENAI_"))}
    clean.update(WARDEN_HOME=str(home), WARDEN_ANALYSER_PATH=str(PLUGINS), COLUMNS="200", NO_COLOR="1")
    clean.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-m", "warden", *args], env=clean, capture_output=True, text=True, timeout=timeout_s
    )
    return Done(args, proc.returncode, proc.stdout, proc.stderr)


def analyse_with_runbook(home: Path, runbook: Path, *extra: str, env: dict[str, str]) -> Done:
    """`warden analyse` of the Acme notice by ana@acme, on the given root runbook."""
    args = ("analyse", str(ACME_NOTICE), "--tenant", "acme", "--as", "ana@acme", "--runbook", str(runbook))
    return warden(home, *args, *extra, env=env)
