"""Where the state directory is ($WARDEN_HOME, or ./.warden) and which ledger it writes.

``$WARDEN_LEDGER_URL`` (``postgresql://user@host:5432/db``) puts the ledger in Postgres, shared
by every host that names the same URL; unset, the ledger is the state directory's DuckDB file.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["HOME_ENV", "LEDGER_URL_ENV", "default_home", "ledger_url"]

HOME_ENV = "WARDEN_HOME"
LEDGER_URL_ENV = "WARDEN_LEDGER_URL"


def default_home() -> Path:
    return Path(os.environ.get(HOME_ENV) or ".warden")


def ledger_url() -> str | None:
    """The Postgres ledger's URL, or None for the DuckDB file (the default)."""
    return os.environ.get(LEDGER_URL_ENV, "").strip() or None
