"""Literal prefilters: words a rule's regex cannot match without, found by reading the regex.

Most rules fail on most passages, and Python's regex engine is slow to say so for long
case-insensitive alternations. A substring test for the required words is cheap, so a rule
runs its regex only on passages that contain one of them. Derived from the pattern itself, the
prefilter can never drop a match the regex would have found.
"""

from __future__ import annotations

import re
from re import _constants as C
from re import _parser as P

__all__ = ["Needs", "needs_of", "required_literals", "same_length_lower", "satisfied", "start_literals"]

Factor = frozenset[str] | None
"""A set of strings one of which every match contains (lower-cased), or None if unknown."""

Needs = tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]
"""Per required set: its lower-case strings, then those with upper-case letters."""

_ZERO_WIDTH = {C.AT, C.ASSERT, C.ASSERT_NOT}


def _better(a: Factor, b: Factor) -> Factor:
    """The more selective factor: longer shortest string, then fewer strings."""
    if a is None:
        return b
    if b is None:
        return a
    key_a, key_b = (min(map(len, a)), -len(a)), (min(map(len, b)), -len(b))
    return a if key_a >= key_b else b


def _sequence(items: P.SubPattern | list, cased: bool = False) -> Factor:
    """The single most selective factor of a sequence."""
    best: Factor = None
    for factor in _all_of(items, cased):
        best = _better(best, factor)
    return best


def _all_of(items: P.SubPattern | list, cased: bool = False) -> list[frozenset[str]]:
    """Every factor of a sequence: a match contains one string of each.

    Literals are lower-cased, except inside a case-sensitive group ``(?-i:...)``: there they
    keep their case, and a string with an upper-case letter is looked for in the original text.
    """
    found: list[frozenset[str]] = []
    run = ""

    def flush() -> None:
        nonlocal run
        if run:
            found.append(frozenset({run}))
        run = ""

    for op, arg in items:
        if op is C.LITERAL:
            run += chr(arg) if cased else chr(arg).lower()
            continue
        if op in _ZERO_WIDTH:
            continue  # consumes nothing: the literal run goes on across it
        flush()
        factor = _item(op, arg, cased)
        if factor:
            found.append(factor)
    flush()
    return found


def _item(op: object, arg: object, cased: bool = False) -> Factor:
    if op is C.SUBPATTERN:
        _group, add_flags, del_flags, sub = arg  # type: ignore[misc]
        if del_flags & re.IGNORECASE:
            cased = True
        elif add_flags & re.IGNORECASE:
            cased = False
        return _sequence(sub, cased)
    if op is C.ATOMIC_GROUP:
        return _sequence(arg, cased)  # type: ignore[arg-type]
    if op is C.BRANCH:
        found: set[str] = set()
        for branch in arg[1]:  # type: ignore[index]
            factor = _sequence(branch, cased)
            if not factor:
                return None
            found |= factor
        return frozenset(found)
    if op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
        low, _high, sub = arg  # type: ignore[misc]
        return _sequence(sub, cased) if low >= 1 else None
    return None


def _tree(pattern: str | P.SubPattern, flags: int) -> P.SubPattern:
    """A pattern's parse tree; the loader passes one it parsed already (parsing is most of the
    time it takes to load the rules)."""
    return P.parse(pattern, flags) if isinstance(pattern, str) else pattern


def required_literals(
    pattern: str | P.SubPattern, flags: int = re.IGNORECASE, keep: int = 3
) -> tuple[frozenset[str], ...] | None:
    """Up to ``keep`` sets of strings; any match contains one string of each set. Strings are
    lower-case unless they come from a case-sensitive group and hold an upper-case letter."""
    factors = [
        f for f in _all_of(_tree(pattern, flags)) if not any(len(s) < 2 and s.isalnum() for s in f)
    ]  # a lone letter is in every passage: not worth testing
    if not factors:
        return None
    factors.sort(key=lambda f: (-min(map(len, f)), len(f)))
    return tuple(factors[:keep])


MAX_STARTS = 96
"""More start strings than this and a plain search is as quick as finding them all."""


def _starts(items: list, at: int, prefix: str, out: set[str], depth: int = 0) -> bool:
    """Adds to ``out`` every literal prefix (up to 4 characters) a match of ``items[at:]``
    can begin with; False when some path begins with something other than a literal."""
    if len(out) > MAX_STARTS or depth > 40:
        return False
    if len(prefix) >= 4:
        out.add(prefix)
        return True
    if at == len(items):
        if not prefix:
            return False  # the sequence can match the empty string
        out.add(prefix)
        return True
    op, arg = items[at]
    if op is C.LITERAL:
        return _starts(items, at + 1, prefix + chr(arg).lower(), out, depth + 1)
    if op in _ZERO_WIDTH and not prefix:
        return _starts(items, at + 1, prefix, out, depth + 1)  # checked at the start position
    if prefix and op not in (C.SUBPATTERN, C.BRANCH, C.MAX_REPEAT, C.MIN_REPEAT):
        out.add(prefix)  # a non-literal after a literal run: the run is prefix enough
        return True
    rest = list(items[at + 1 :])
    if op is C.SUBPATTERN:
        return _starts(list(arg[-1]) + rest, 0, prefix, out, depth + 1)  # type: ignore[index]
    if op is C.BRANCH:
        return all(_starts(list(b) + rest, 0, prefix, out, depth + 1) for b in arg[1])  # type: ignore[index]
    if op in (C.MAX_REPEAT, C.MIN_REPEAT):
        low, high, sub = arg  # type: ignore[misc]
        if high == 1 or low == 0:
            # once, then the rest (or the repeat again); a zero minimum may also skip it
            once = [*sub, *rest] if high == 1 else [*sub, (op, arg), *rest]
            taken = _starts(once, 0, prefix, out, depth + 1)
            if low == 0:
                return taken and _starts(rest, 0, prefix, out, depth + 1)
            return taken
        if prefix:
            out.add(prefix)
            return True
        return _starts(list(sub), 0, prefix, out, depth + 1)
    return False


def start_literals(pattern: str | P.SubPattern, flags: int = re.IGNORECASE) -> tuple[str, ...] | None:
    """Lower-case strings one of which every match of ``pattern`` starts with, or None.

    When known, a rule need not ``search`` the whole passage: it tries ``match`` only where
    one of these strings occurs, in text order, which finds the same leftmost match."""
    out: set[str] = set()
    try:
        ok = _starts(list(_tree(pattern, flags)), 0, "", out)
    except RecursionError:
        return None
    if not ok or not out or len(out) > MAX_STARTS or any(len(s) < 2 for s in out):
        return None
    # a string that begins with another start string adds no position of its own
    kept = sorted(s for s in out if not any(o != s and s.startswith(o) for o in out))
    return tuple(kept)


def needs_of(factors: tuple[frozenset[str], ...] | None) -> Needs | None:
    """``required_literals`` ordered for ``satisfied``: a set is settled by its first string
    found, or by failing every one, so the smallest set and the short strings go first."""
    if factors is None:
        return None
    return tuple(
        sorted(
            (
                (
                    tuple(sorted((w for w in factor if w == w.lower()), key=lambda w: (len(w), w))),
                    tuple(sorted(w for w in factor if w != w.lower())),
                )
                for factor in factors
            ),
            key=lambda need: len(need[0]) + len(need[1]),
        )
    )


def satisfied(needs: Needs, lower: str, text: str) -> bool:
    """True when the passage holds one string of every required set (the strings with an
    upper-case letter come from a case-sensitive part and are looked for in ``text``)."""
    for uncased, cased in needs:
        for word in uncased:
            if word in lower:
                break
        else:
            for word in cased:
                if word in text:
                    break
            else:
                return False
    return True


def same_length_lower(text: str) -> str:
    """Lower-cases per character where str.lower() would change the length (e.g. 'İ'), so
    offsets found in the lower-cased text hold in the original."""
    lower = text.lower()
    if len(lower) == len(text):
        return lower
    return "".join(ch if len(ch.lower()) != 1 else ch.lower() for ch in text)
