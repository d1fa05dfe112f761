"""Where the state directory is: $WARDEN_HOME, or ./.warden."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["HOME_ENV", "default_home"]

HOME_ENV = "WARDEN_HOME"


def default_home() -> Path:
    return Path(os.environ.get(HOME_ENV) or ".warden")
