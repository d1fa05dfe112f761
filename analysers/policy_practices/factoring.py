"""Compiles rule regexes with their alternations factored by first letter, like a trie.

CPython's regex engine tries the alternatives of ``(?:email|name|phone|...)`` one after the
other at each position. It skips an alternative whose first character differs cheaply, but a
150-term lexicon still costs 150 checks at every word of a passage, and a rule such as "a
collect verb, then within 120 characters a kind of data" pays that at every word in the gap.
Grouping alternatives that start with the same letter (recursively) makes it a few checks.
Measured on the dev corpora, the ``{data}`` lexicon search takes half the time.

A position matches the factored pattern exactly when it matches the original: alternatives are
regrouped, never changed. Only the preference between alternatives that begin with different
letters can change, i.e. which of two overlapping matches at one position is reported; whether
a rule fires, and where its match starts, cannot (a test checks every shipped rule).
"""

from __future__ import annotations

import re

__all__ = ["compile_factored"]

try:  # CPython's own parser and compiler (prefilter.py reads the same parse trees)
    from re import _compiler
    from re import _constants as C
    from re import _parser as P
except ImportError:  # pragma: no cover - another Python: plain compile
    _compiler = None  # type: ignore[assignment]


def _plain_group(op: object, arg: object) -> bool:
    """A ``(?:...)`` with no flags: the same as its contents written in place."""
    return op is C.SUBPATTERN and arg[0] is None and not arg[1] and not arg[2]  # type: ignore[index]


def _inline(data: list) -> list:
    """Writes plain groups in place, so a sequence's first element is visible."""
    out: list = []
    for op, arg in data:
        if _plain_group(op, arg):
            out.extend(_inline(list(arg[-1].data)))
        else:
            out.append((op, arg))
    return out


def _alternatives(arg: tuple, state: P.State) -> list[P.SubPattern]:
    """A branch's alternatives with nested plain branches spliced in: ``(?:(?:a|b)|c)`` is
    ``(?:a|b|c)``, in the same order."""
    out: list[P.SubPattern] = []
    for alt in arg[1]:
        items = _inline(list(alt.data))
        if len(items) == 1 and items[0][0] is C.BRANCH:
            out.extend(_alternatives(items[0][1], state))
        else:
            out.append(P.SubPattern(state, items))
    return out


def _first_literal(alt: P.SubPattern) -> tuple[object, object] | None:
    """What the alternative starts with, if it can be shared: a literal character, or a
    zero-width anchor such as ``\\b`` (``\\bin|\\bto`` is ``\\b(?:in|to)``)."""
    if len(alt) and alt[0][0] in (C.LITERAL, C.AT):
        return alt[0]
    return None


def _factor(alternatives: list[P.SubPattern], state: P.State) -> list[P.SubPattern]:
    """Alternatives starting with the same literal or anchor become one: that element, then a
    branch of their rests (factored in turn). The others keep their place."""
    groups: dict[tuple[object, object], list[P.SubPattern]] = {}
    for alt in alternatives:
        first = _first_literal(alt)
        if first is not None:
            groups.setdefault(first, []).append(alt)
    out: list[P.SubPattern] = []
    for alt in alternatives:
        first = _first_literal(alt)
        if first is None or len(groups[first]) < 2:
            out.append(alt)
        elif groups[first][0] is alt:  # the group goes where its first member stood
            rests = [P.SubPattern(state, list(a.data[1:])) for a in groups[first]]
            merged = P.SubPattern(state, [first])
            merged.append((C.BRANCH, (None, _factor(rests, state))))
            out.append(merged)
    return out


def _walk(items: P.SubPattern | list, state: P.State) -> None:
    """Factors every branch below ``items``, in place."""
    data = items.data if isinstance(items, P.SubPattern) else items
    for index, (op, arg) in enumerate(data):
        if op is C.BRANCH:
            alternatives = _alternatives(arg, state)
            for alt in alternatives:
                _walk(alt, state)
            data[index] = (op, (arg[0], _factor(alternatives, state)))
        elif op is C.SUBPATTERN:
            _walk(arg[-1], state)
        elif op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
            _walk(arg[2], state)
        elif op in (C.ASSERT, C.ASSERT_NOT):
            _walk(arg[1], state)
        elif op is C.ATOMIC_GROUP:
            _walk(arg, state)


def compile_factored(pattern: str | P.SubPattern, flags: int = 0) -> re.Pattern[str]:
    """``re.compile(pattern, flags)`` with alternations factored by first letter.

    ``pattern`` may be a parse tree from ``re._parser.parse(source, flags)``; it is factored in
    place. Raises ``re.error`` as ``re.compile`` does. The result's ``.pattern`` is None, since
    it was compiled from a parse tree; keep the source string beside it where it is needed."""
    if _compiler is None:  # pragma: no cover
        return re.compile(pattern, flags)  # type: ignore[arg-type]
    tree = P.parse(pattern, flags) if isinstance(pattern, str) else pattern
    _walk(tree, tree.state)
    return _compiler.compile(tree, flags)
