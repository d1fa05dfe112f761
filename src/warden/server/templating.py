"""The pages' Jinja2 environment: autoescape on for every template (document text, file names,
comments and runbooks are untrusted everywhere), and the filters the templates share."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from fastapi.templating import Jinja2Templates

__all__ = ["age", "templates"]


def age(seconds: float | None) -> str:
    """A short human age: 45s, 12m, 3h 5m, 2d 4h."""
    if seconds is None:
        return "-"
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60}m"
    return f"{s // 86400}d {s % 86400 // 3600}h"


def _when(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value.replace("T", " ")[:19]
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return str(value.strftime("%Y-%m-%d %H:%M:%S"))
    return str(value)


def _usd(value: Any) -> str:
    return f"${float(value or 0):.2f}" if value is not None else "-"


def _seconds(value: Any) -> str:
    return f"{float(value or 0):.1f}s" if value is not None else "-"


def _document(name: Any) -> str:
    """An uploaded document's name as its uploader gave it (the generated prefix left out)."""
    text = str(name or "")
    head, sep, rest = text.partition("--")
    return rest if sep and len(head) == 32 and all(c in "0123456789abcdef" for c in head) else text


env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(Path(__file__).parent / "templates")),
    autoescape=True,  # every template, whatever its name: untrusted text never becomes markup
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
env.filters.update(age=age, when=_when, usd=_usd, seconds=_seconds, document=_document)
templates = Jinja2Templates(env=env)
