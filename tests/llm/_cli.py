"""Running ``python -m warden`` in a fresh process against one state directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _support import PLUGINS


@dataclass
class Done:
    args: tuple[str, ...]
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out.strip().splitlines()[-1])

    def __str__(self) -> str:
        return f"warden {' '.join(self.args)} -> {self.code}\nstdout:\n{self.out}\nstderr:\n{self.err}"


def warden(home: Path, *args: str, env: dict[str, str] | None = None, timeout_s: float = 300) -> Done:
    """One CLI command; only the variables given (and the test analysers' folder) configure it."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("WARDEN_", "OPENAI_"))}
    clean.update(WARDEN_HOME=str(home), WARDEN_ANALYSER_PATH=str(PLUGINS), COLUMNS="200", NO_COLOR="1")
    clean.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-m", "warden", *args], env=clean, capture_output=True, text=True, timeout=timeout_s
    )
    return Done(args, proc.returncode, proc.stdout, proc.stderr)
