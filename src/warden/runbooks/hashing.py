"""Content hashes of runbooks and policies: what an approval is bound to.

The hash covers the canonical JSON of the validated model (sorted keys, defaults filled in),
so reformatting the YAML does not change it and any change of meaning does.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel

__all__ = ["canonical_json", "sha256_of"]


def canonical_json(value: BaseModel | Any) -> str:
    """Stable JSON text: sorted keys, no whitespace, pydantic models in JSON mode."""
    data = value.model_dump(mode="json") if isinstance(value, BaseModel) else value
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_of(value: BaseModel | Any) -> str:
    """sha256 hex digest of :func:`canonical_json`."""
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()
