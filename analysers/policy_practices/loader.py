"""Loads the rules and lexicon files once per process: validated, macro-expanded, compiled."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from re import _parser as re_parser
from typing import Any

import yaml
from pydantic import ValidationError
from warden_analysers.policy_practices.factoring import compile_factored
from warden_analysers.policy_practices.prefilter import Needs, needs_of, required_literals, start_literals
from warden_analysers.policy_practices.rules_model import (
    CategoryLexicon,
    RulesFile,
    Shape,
)

from warden.errors import LoadError

__all__ = [
    "RULES_DIR",
    "CompiledRule",
    "RuleSet",
    "load_lexicon",
    "load_rules",
    "read_yaml",
]

RULES_DIR = Path(__file__).parent / "rules"
FLAGS = re.IGNORECASE
MACRO = re.compile(r"\{([a-z_]+)\}")
CASED = "(?-i:"
"""Marks a case-sensitive part: such a pattern runs with IGNORECASE on the original text."""
ESCAPE = re.compile(r"\\.")
UPPER_LITERAL = re.compile(r"[A-Z]")


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """A rule ready to run: its regexes compiled and its heading cues as sets."""

    id: str
    label: str
    text: re.Pattern[str] | None
    under: frozenset[str]
    not_under: frozenset[str]
    unless: re.Pattern[str] | None
    shape: Shape
    confidence: float
    needs: Needs | None = None
    """Sets of strings; ``text`` can match only if the text holds one of each set. Each set is
    split into lower-case strings (looked for in the lower-cased text) and strings with
    upper-case letters from case-sensitive parts (looked for in the text as written)."""
    starts: tuple[str, ...] | None = None
    """Lower-case strings every match of ``text`` starts with: match there instead of search."""
    text_cased: bool = False
    """``text`` has case-sensitive parts: it runs with IGNORECASE on the text as written."""
    unless_cased: bool = False
    yield_to: frozenset[str] = frozenset()
    """Labels that veto this rule's hit when the passage carries one of them."""


@dataclass(frozen=True, slots=True)
class RuleSet:
    """Every heading cue and rule of the rules folder."""

    headings: dict[str, re.Pattern[str]]
    rules: tuple[CompiledRule, ...]


def read_yaml(path: Path) -> Any:
    """Parses one YAML file with the C loader when present (the rules load on every CLI call)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        with path.open(encoding="utf-8") as handle:
            return yaml.load(handle, Loader=loader)
    except (OSError, yaml.YAMLError) as exc:
        raise LoadError(f"cannot read rules file: {exc}", source=str(path)) from exc


def _expand(pattern: str, macros: dict[str, str], where: str) -> str:
    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in macros:
            raise LoadError(f"unknown macro '{{{name}}}'", source=where)
        return f"(?:{macros[name]})"

    return MACRO.sub(sub, pattern)


def _compile(pattern: str | None, macros: dict[str, str], where: str) -> re.Pattern[str] | None:
    """A veto or heading regex: searched as is, so it needs no prefilter."""
    return _prepare(pattern, macros, where, prefilter=False)[0]


def _prepare(
    pattern: str | None, macros: dict[str, str], where: str, prefilter: bool = True
) -> tuple[re.Pattern[str] | None, Needs | None, tuple[str, ...] | None]:
    """The compiled regex with its prefilter (required strings, start strings), from one parse.

    Case-insensitive rules are compiled case-sensitive and run on lower-cased text (2-3x
    faster in CPython); a rule with a case-sensitive part ``(?-i:...)`` runs on the text as is.
    Alternations are factored by first letter (``factoring.py``)."""
    if pattern is None:
        return None, None, None
    expanded = _expand(pattern, macros, where)
    cased = CASED in expanded or UPPER_LITERAL.search(ESCAPE.sub("", expanded))
    flags = FLAGS if cased else 0
    try:
        tree = re_parser.parse(expanded, flags)
        needs = needs_of(required_literals(tree)) if prefilter else None
        starts = start_literals(tree) if prefilter else None
        return compile_factored(tree, flags), needs, starts  # factoring changes the tree: last
    except re.error as exc:
        raise LoadError(f"regex does not compile after macro expansion: {exc}", source=where) from exc


def _cased(pattern: re.Pattern[str] | None) -> bool:
    return pattern is not None and bool(pattern.flags & re.IGNORECASE)


def _validated(path: Path) -> RulesFile:
    try:
        return RulesFile.model_validate(read_yaml(path))
    except ValidationError as exc:
        raise LoadError(f"invalid rules file:\n{exc}", source=str(path)) from exc


@lru_cache(maxsize=4)
def load_rules(folder: Path = RULES_DIR) -> RuleSet:
    """Merges every ``*.rules.yaml`` of ``folder``; heading cue names and rule ids are unique."""
    files = [(path, _validated(path)) for path in sorted(folder.glob("*.rules.yaml"))]
    if not files:
        raise LoadError("no *.rules.yaml files found", source=str(folder))
    macros = _macros(folder)
    headings: dict[str, re.Pattern[str]] = {}
    for path, data in files:
        for name, pattern in data.headings.items():
            if name in headings:
                raise LoadError(f"heading cue '{name}' is defined twice", source=str(path))
            headings[name] = _compile(pattern, macros, f"{path}:headings.{name}")  # type: ignore[assignment]
    rules: list[CompiledRule] = []
    seen: set[str] = set()
    for path, data in files:
        for rule in data.rules:
            where = f"{path}:{rule.id}"
            if rule.id in seen:
                raise LoadError(f"rule id '{rule.id}' is used twice", source=str(path))
            unknown = (set(rule.under) | set(rule.not_under)) - headings.keys()
            if unknown:
                raise LoadError(
                    f"rule '{rule.id}' names unknown heading cues {sorted(unknown)}", source=str(path)
                )
            seen.add(rule.id)
            text, needs, starts = _prepare(rule.text, macros, where)
            unless = _compile(rule.unless, macros, where)
            rules.append(
                CompiledRule(
                    id=rule.id,
                    label=rule.label,
                    text=text,
                    under=frozenset(rule.under),
                    not_under=frozenset(rule.not_under),
                    unless=unless,
                    shape=rule.shape,
                    confidence=rule.confidence,
                    needs=needs,
                    starts=starts,
                    text_cased=_cased(text),
                    unless_cased=_cased(unless),
                    yield_to=frozenset(rule.yield_to),
                )
            )
    return RuleSet(headings=headings, rules=tuple(rules))


def _macros(folder: Path) -> dict[str, str]:
    """Named regex fragments (``{data}`` in a rule) shared by all rules files."""
    path = folder / "macros.yaml"
    if not path.exists():
        return {}
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise LoadError("macros must map names to regexes", source=str(path))
    expanded: dict[str, str] = {}
    for name, value in data.items():
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            value = "|".join(value)  # a list of alternatives reads better than one long line
        if not isinstance(name, str) or not isinstance(value, str):
            raise LoadError(f"macro '{name}' must be a regex or a list of them", source=str(path))
        expanded[name] = value
    for _ in range(5):  # macros may use macros; five levels is plenty
        expanded = {name: _expand(value, expanded, str(path)) for name, value in expanded.items()}
    if any(MACRO.search(value) for value in expanded.values()):
        raise LoadError("macros nest more than five levels deep (a cycle?)", source=str(path))
    return expanded


@lru_cache(maxsize=4)
def load_lexicon(path: Path = RULES_DIR / "data_categories.yaml") -> CategoryLexicon:
    """The data-category lexicon, validated."""
    try:
        return CategoryLexicon.model_validate(read_yaml(path))
    except ValidationError as exc:
        raise LoadError(f"invalid lexicon file:\n{exc}", source=str(path)) from exc
