"""Literal prefilters: words a rule's regex cannot match without, found by reading the regex.

Most rules fail on most passages, and Python's regex engine is slow to say so for long
case-insensitive alternations. A substring test for the required words is cheap, so a rule
runs its regex only on passages that contain one of them. Derived from the pattern itself, the
prefilter can never drop a match the regex would have found.
"""

from __future__ import annotations

import re
from re import _constants as C  # noqa: N812 - the stdlib's own name
from re import _parser as P  # noqa: N812

__all__ = ["required_literals"]

Factor = frozenset[str] | None
"""A set of strings one of which every match contains (lower-cased), or None if unknown."""

_ZERO_WIDTH = {C.AT, C.ASSERT, C.ASSERT_NOT}


def _better(a: Factor, b: Factor) -> Factor:
    """The more selective factor: longer shortest string, then fewer strings."""
    if a is None:
        return b
    if b is None:
        return a
    key_a, key_b = (min(map(len, a)), -len(a)), (min(map(len, b)), -len(b))
    return a if key_a >= key_b else b


def _sequence(items: P.SubPattern | list) -> Factor:
    best: Factor = None
    run = ""

    def flush() -> None:
        nonlocal best, run
        if run:
            best = _better(best, frozenset({run}))
        run = ""

    for op, arg in items:
        if op is C.LITERAL:
            run += chr(arg).lower()
            continue
        if op in _ZERO_WIDTH:
            continue  # consumes nothing: the literal run goes on across it
        flush()
        best = _better(best, _item(op, arg))
    flush()
    return best


def _item(op: object, arg: object) -> Factor:
    if op is C.SUBPATTERN:
        return _sequence(arg[-1])  # type: ignore[index]
    if op is C.ATOMIC_GROUP:
        return _sequence(arg)  # type: ignore[arg-type]
    if op is C.BRANCH:
        found: set[str] = set()
        for branch in arg[1]:  # type: ignore[index]
            factor = _sequence(branch)
            if not factor:
                return None
            found |= factor
        return frozenset(found)
    if op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
        low, _high, sub = arg  # type: ignore[misc]
        return _sequence(sub) if low >= 1 else None
    return None


def required_literals(pattern: str, flags: int = re.IGNORECASE) -> frozenset[str] | None:
    """Strings (lower-case) one of which occurs in any text the pattern matches, or None."""
    factor = _sequence(P.parse(pattern, flags))
    if factor is None or any(len(s) < 2 and s.isalnum() for s in factor):
        return None  # a lone letter is in every passage: not worth testing
    return factor
