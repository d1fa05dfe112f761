"""Factored rule regexes fire exactly where the plain ones do."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from warden_analysers.policy_practices.factoring import compile_factored
from warden_analysers.policy_practices.loader import FLAGS, RULES_DIR, _expand, _macros, _validated

NOTICES = Path(__file__).resolve().parents[2] / "fixtures" / "notices"


def _sample_texts() -> list[str]:
    """Lines of the bundled plain-text and Markdown notices, plus tricky near-misses."""
    lines = [
        line.strip()
        for name in ("tallow_and_finch.md", "harbour_lane_dental.txt")
        for line in (NOTICES / name).read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    return [
        *lines,
        "We collect your full name, e-mail address, date of birth and precise location data.",
        "We may collect your first name; the name of your employer is not collected.",
        "Your phone number, telephone numbers and mobile device identifiers are stored.",
        "we log ip addresses, device ids, idfa and mac address values for security purposes.",
        "Acme Tools GmbH (“Acme”, “we”, “us”) is the controller responsible for processing.",
        "You have the right to access, correct, delete or port your data; contact privacy@example.org.",
        "nameless addresses, agencies and stages are not data",
    ]


def _rule_sources() -> list[tuple[str, str, int]]:
    macros = _macros(RULES_DIR)
    out = []
    for path in sorted(RULES_DIR.glob("*.rules.yaml")):
        data = _validated(path)
        for name, pattern in data.headings.items():
            out.append((f"heading {name}", _expand(pattern, macros, name), FLAGS))
        for rule in data.rules:
            for part in (rule.text, rule.unless):
                if part is not None:
                    out.append((rule.id, _expand(part, macros, rule.id), FLAGS))
    return out


def test_factored_regexes_find_matches_at_the_same_starts() -> None:
    texts = _sample_texts()
    sources = _rule_sources()
    assert len(sources) > 50
    fired = 0
    for name, pattern, flags in sources:
        plain, factored = re.compile(pattern, flags), compile_factored(pattern, flags)
        for text in texts + [t.lower() for t in texts]:
            want, got = plain.search(text), factored.search(text)
            assert (want and want.start()) == (got and got.start()), (name, text)
            fired += want is not None
    assert fired > 100  # the sample exercises the rules, not only their misses


@pytest.mark.parametrize(
    ("pattern", "text", "span"),
    [
        (r"\b(?:email|e-?mail address|name|names?\b|phone)", "your e-mail address please", (5, 19)),
        (r"(?:full |first )?name|(?:ab|ac|a)d", "first name, add, ad", (0, 10)),
        (r"x(?:ab|ac|a)d", "xad xacd", (0, 3)),
        (r"(?:a|ab)(?:c|bcd)", "abcd", (0, 4)),  # backtracking into the group still works
        (r"\bin order\b|^\W*x|\bto help\b|\binside", "a tin inside to help", (6, 12)),  # shared \b
    ],
)
def test_factoring_keeps_what_a_pattern_matches(pattern: str, text: str, span: tuple[int, int]) -> None:
    assert compile_factored(pattern).search(text).span() == span  # type: ignore[union-attr]
    assert re.compile(pattern).search(text).span() == span  # type: ignore[union-attr]


def test_factoring_reports_bad_patterns_like_re() -> None:
    with pytest.raises(re.error):
        compile_factored(r"(?:unclosed")
