"""`warden ropa RUN`: the record of processing activities (GDPR Art. 30(1)) a run's evidence supports."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Adds the command to the ``warden`` app."""
