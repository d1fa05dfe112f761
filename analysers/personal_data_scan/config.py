"""The scan's configuration: the manifest's config_schema, with bounds enforced in code too.

The guard validates a step's config against the manifest before the run; this model repeats
the bounds so a direct call (a notebook, a test) cannot ask for an unbounded scan either.
"""

from __future__ import annotations

import phonenumbers
from pydantic import Field, ValidationError

from warden.errors import LoadError
from warden.schemas._base import StrictModel

__all__ = ["ScanConfig", "parse_config"]


class ScanConfig(StrictModel):
    """Bounds and thresholds of one scan; defaults match manifest.yaml."""

    sample_size: int = Field(default=1000, ge=1, le=100_000)
    max_tables: int = Field(default=500, ge=1, le=10_000)
    max_columns: int = Field(default=1000, ge=1, le=10_000)
    max_value_chars: int = Field(default=2000, ge=16, le=100_000)
    max_line_bytes: int = Field(default=1_048_576, ge=256, le=16_777_216)
    min_share: float = Field(default=0.1, gt=0, le=1)
    phone_regions: list[str] = Field(default_factory=lambda: ["GB", "US", "DE", "FR"], max_length=50)
    lock_timeout_s: float = Field(default=2.0, ge=0, le=30)


def parse_config(config: dict[str, object]) -> ScanConfig:
    """The validated config, or a coded error naming the offending key (never a value)."""
    try:
        parsed = ScanConfig.model_validate(config or {})
    except ValidationError as exc:
        keys = sorted({".".join(str(p) for p in err["loc"]) for err in exc.errors()})
        raise LoadError(
            f"invalid config keys: {', '.join(keys)}",
            source="config",
            code="bad_config",
            fix="see the config_schema of personal_data_scan's manifest.yaml",
        ) from None
    if any(region not in phonenumbers.SUPPORTED_REGIONS for region in parsed.phone_regions):
        raise LoadError(
            "phone_regions holds a code phonenumbers does not know",
            source="config",
            code="bad_config",
            fix="use ISO 3166 alpha-2 codes such as GB, US, DE",
        )
    return parsed
