"""The folder to scan: the step's system, resolved and checked against the tenant's allowed roots.

The guard checks the same before approval; this check runs again at execution, because the
tree may have changed since (a folder swapped for a symlink) and a test may call ``run``
directly.
"""

from __future__ import annotations

import os
from pathlib import Path

from warden.analyser import AnalyserContext
from warden.errors import LoadError
from warden.schemas.policy import System

__all__ = ["source_root"]


def source_root(ctx: AnalyserContext | None) -> tuple[System, Path]:
    """The target ``source`` system and its resolved folder, or a coded LoadError."""
    system = ctx.system() if isinstance(ctx, AnalyserContext) else None
    if ctx is None or system is None:
        wanted = getattr(ctx, "system_id", None)
        raise LoadError(
            f"third_party_scan needs a system to scan, and {wanted or 'none'!r} is not one of the tenant's",
            source="system",
            code="no_system",
            fix="give the step `system:` naming a source system of the tenant's inventory",
        )
    if system.type != "source":
        raise LoadError(
            f"system '{system.id}' is a {system.type} system; third_party_scan reads source-code folders",
            source="system",
            code="wrong_system_type",
            fix="run third_party_scan on a system of type source, personal_data_scan on data systems",
        )
    location = Path(os.path.expanduser(system.location))
    root = (location if location.is_absolute() else Path(ctx.base_dir) / location).resolve()
    roots = [Path(r).resolve() for r in ctx.allowed_roots]
    if not any(root == r or root.is_relative_to(r) for r in roots):
        raise LoadError(
            f"system '{system.id}' lives at '{system.location}' ({root}), outside the allowed roots",
            source="system",
            code="outside_allowed_roots",
            fix="move the system under an allowed root, or add its folder to the tenant's allowed_roots: "
            + (", ".join(map(str, roots)) or "(none are allowed)"),
        )
    if not root.is_dir():
        raise LoadError(
            f"system '{system.id}': '{system.location}' is not a folder",
            source="system",
            code="system_not_found",
            fix="point the system's location at the source-code folder",
        )
    return system, root
