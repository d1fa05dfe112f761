"""Combining evidence: each column's name and sampled values against every detector.

A location is reported for a category when its name says so, when enough of its sampled
values validate (``min_share`` of them, at least one), or both. Per location and key the
strongest evidence wins, so a column is never reported twice for the same category.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from warden_analysers.personal_data_scan.detectors.registry import Detector
from warden_analysers.personal_data_scan.sample import ColumnSample

from warden.schemas.scan import CategoryHit, DetectionMethod

__all__ = ["MAX_FIND_CANDIDATES", "Hit", "detect", "detect_column"]

MAX_FIND_CANDIDATES = 20
_STRENGTH: dict[DetectionMethod, int] = {"value+name": 3, "value": 2, "name": 1, "code": 0}


@dataclass(frozen=True)
class Hit:
    """A category hit, and the log line of its first matching value (JSONL only)."""

    category: CategoryHit
    line: int | None = None


def _match(value: str, detector: Detector, lenient: bool) -> str | None:
    """The part of `value` that validates (all of it, or a candidate found in free text)."""
    if detector.check is not None and detector.check(value):
        return value
    if lenient and detector.lenient is not None and detector.lenient(value):
        return value
    if detector.find is not None and detector.check is not None and len(value) > 6:
        if detector.find_hint and detector.find_hint not in value:
            return None
        for n, found in enumerate(detector.find.finditer(value)):
            if n >= MAX_FIND_CANDIDATES:
                break
            if found.group() != value and detector.check(found.group()):
                return found.group()
    return None


def detect_column(column: ColumnSample, detectors: Iterable[Detector], min_share: float) -> list[Hit]:
    """Every category `column` holds by the evidence of its name and values."""
    best: dict[str, Hit] = {}
    sampled = len(column.values)
    needed = max(1, math.ceil(min_share * sampled))
    # Each distinct value is validated once (cities, codes and flags repeat), counted as often
    # as it occurs; dicts keep first-seen order, so the example is the first match in the sample.
    distinct = Counter(column.values)
    first_index: dict[str, int] = {}
    for index, value in enumerate(column.values):
        first_index.setdefault(value, index)
    for detector in detectors:
        named = any(rule.matches(column.name, column.context) for rule in detector.names)
        if not named and detector.check is None:
            continue
        lenient = named and (
            detector.lenient_names is None
            or any(rule.matches(column.name, column.context) for rule in detector.lenient_names)
        )
        matches, example, line = 0, None, None
        for value, count in distinct.items():
            found = _match(value, detector, lenient)
            if found is None:
                continue
            matches += count
            if example is None:
                example = detector.mask(found)
                line = column.lines[first_index[value]] if column.lines else None
        method: DetectionMethod
        if sampled and matches >= needed:
            method = "value+name" if named else "value"
        elif named:
            method, matches, example, line = "name", 0, None, None
        else:
            continue
        hit = Hit(
            CategoryHit(
                key=detector.key,
                location=column.location,
                method=method,
                detector=detector.name if method != "name" else f"{detector.name}:column-name",
                matches=matches,
                sampled=sampled,
                masked_example=example,
                special_category=detector.special,
            ),
            line,
        )
        current = best.get(detector.key)
        if current is None or _rank(hit) > _rank(current):
            best[detector.key] = hit
    return list(best.values())


def _rank(hit: Hit) -> tuple[int, int]:
    return _STRENGTH[hit.category.method], hit.category.matches


def detect(columns: Iterable[ColumnSample], detectors: tuple[Detector, ...], min_share: float) -> list[Hit]:
    """Hits of every column, in a stable order (location, then key)."""
    hits = [hit for column in columns for hit in detect_column(column, detectors, min_share)]
    return sorted(hits, key=lambda h: (h.category.location, h.category.key))
