"""Reading untrusted YAML or JSON into plain data, then into a model, with errors that point.

Runbooks come from planners and people, policies from admins; both are hostile input until
proven otherwise. This module bounds the size, the nesting and the number of nodes (so an
anchors bomb cannot expand), refuses binary junk and duplicate keys, and remembers the line of
every node so a validation error names the line and the field.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from warden.errors import LoadError

__all__ = [
    "DEFAULT_LIMITS",
    "Limits",
    "Parsed",
    "format_loc",
    "is_unicode",
    "load_model",
    "parse_text",
    "plain_data_problem",
    "read_text",
]

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Limits:
    """Bounds on untrusted input; the defaults are generous for runbooks and policies."""

    max_bytes: int = 2 * 2**20
    max_depth: int = 64
    max_nodes: int = 200_000


DEFAULT_LIMITS = Limits()


@dataclass
class Parsed:
    """Plain data plus the source line (1-based) of each dotted path, e.g. 'steps[0].id'."""

    data: Any
    lines: dict[str, int] = field(default_factory=dict)
    source: str | None = None

    def line_of(self, path: str) -> int | None:
        """The line of `path`, or of its nearest ancestor that has one."""
        while path:
            if path in self.lines:
                return self.lines[path]
            cut = max(path.rfind("."), path.rfind("["))
            path = path[:cut] if cut > 0 else ""
        return self.lines.get("")


def read_text(path: str | Path, limits: Limits = DEFAULT_LIMITS) -> str:
    """Read a file as UTF-8 text, refusing oversized or binary files before parsing them."""
    p = Path(path)
    source = str(path)
    try:
        size = p.stat().st_size
        if not p.is_file():
            raise LoadError("is not a regular file", source=source, fix="pass a YAML or JSON file")
        if size > limits.max_bytes:
            raise LoadError(
                f"file is {size:,} bytes, over the {limits.max_bytes:,}-byte limit",
                source=source,
                code="too_large",
                fix="runbooks and policies are small text files; check you passed the right file",
            )
        with p.open("rb") as fh:
            raw = fh.read(limits.max_bytes + 1)
    except FileNotFoundError:
        raise LoadError("file not found", source=source, fix="check the path") from None
    except IsADirectoryError:
        raise LoadError("is a directory", source=source, fix="pass a YAML or JSON file") from None
    except PermissionError:
        raise LoadError("permission denied", source=source, fix="check the file's permissions") from None
    except OSError as exc:
        raise LoadError(f"cannot read file: {exc.strerror or exc}", source=source) from None
    if len(raw) > limits.max_bytes:
        raise LoadError("file grew past the size limit while reading", source=source, code="too_large")
    return decode(raw, source)


def decode(raw: bytes, source: str | None = None) -> str:
    """Strict UTF-8 (BOM allowed); NUL bytes mean binary junk, not text."""
    if b"\x00" in raw:
        raise LoadError(
            "contains NUL bytes: this is a binary file, not YAML or JSON",
            source=source,
            code="binary",
            fix="pass the runbook's YAML or JSON text",
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LoadError(
            f"is not UTF-8 text (bad byte at offset {exc.start})",
            source=source,
            code="encoding",
            fix="save the file as UTF-8",
        ) from None


def parse_text(text: str, source: str | None = None, limits: Limits = DEFAULT_LIMITS) -> Parsed:
    """Parse YAML (JSON is YAML too) into plain data with a line map, within `limits`."""
    if len(text.encode("utf-8", "surrogatepass")) > limits.max_bytes:
        raise LoadError(f"text is over the {limits.max_bytes:,}-byte limit", source=source, code="too_large")
    if not text.strip():
        raise LoadError("is empty", source=source, code="empty", fix="write a runbook or policy in it")
    _check_nesting(text, source, limits)
    try:
        node = _compose(text, source, limits)
    except yaml.composer.ComposerError as exc:
        raise _yaml_error(_explained(exc, text), source, text) from None
    except yaml.YAMLError as exc:
        # A JSON file with tabs trips YAML; give JSON its own chance and its own message.
        if text.lstrip().startswith(("{", "[")):
            return _parse_json(text, source, limits)
        raise _yaml_error(_explained(exc, text), source, text) from None
    except RecursionError:
        raise LoadError(
            f"nesting is deeper than {limits.max_depth} levels", source=source, code="too_deep"
        ) from None
    if node is None or (isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null")):
        raise LoadError(
            "holds no document", source=source, code="empty", fix="write a runbook or policy in it"
        )
    return _build(node, source, limits)


_EXPLAIN_BYTES = 64 * 1024
"""Up to this size, a file libyaml refused is parsed again by PyYAML for its error message."""


def _explained(exc: yaml.YAMLError, text: str) -> yaml.YAMLError:
    """PyYAML's error for `text` where libyaml's says less: it names a tab, an unknown escape
    or an undefined alias, where libyaml says "found character that cannot start any token"."""
    if _CLoader is None or len(text) > _EXPLAIN_BYTES:
        return exc
    try:
        yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as python_exc:
        return python_exc
    except RecursionError:
        pass
    return exc


_CLoader = getattr(yaml, "CSafeLoader", None)
_C_MAX_DEPTH = 1_000
"""libyaml's composer recurses in C: 100,000 levels crash the process, a thousand do not."""
_COLLECTION_STARTS = (yaml.SequenceStartEvent, yaml.MappingStartEvent)
_NODE_EVENTS = (yaml.ScalarEvent, yaml.AliasEvent, *_COLLECTION_STARTS)


def _event_line(event: yaml.Event) -> int | None:
    """The 1-based line an event starts on; parsed events always carry a mark."""
    return event.start_mark.line + 1 if event.start_mark is not None else None


def _compose(text: str, source: str | None, limits: Limits) -> yaml.Node | None:
    """The node graph of `text`, with libyaml when PyYAML has it.

    The pure-Python composer took ~100 s of CPU on a 2 MB file of a million numbers before the
    node limit could refuse it. libyaml's composer is fast but recursive in C (deep nesting
    crashes the process), so a pass over its event stream first refuses documents over the
    depth or node limits, before any node is built. That pass counts mapping keys as nodes and
    empty collections as levels, which the builder does not: a flat mapping of over 100,000
    keys is refused here; no runbook or policy comes near that.
    """
    if _CLoader is None:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise LoadError(
            f"is not Unicode text (lone surrogate at character {exc.start})", source=source, code="encoding"
        ) from None
    depth = nodes = 0
    for event in yaml.parse(text, Loader=_CLoader):
        if isinstance(event, _NODE_EVENTS):
            nodes += 1
            if nodes > limits.max_nodes:
                raise LoadError(
                    f"has more than {limits.max_nodes:,} nodes",
                    source=source,
                    line=_event_line(event),
                    code="too_many_nodes",
                    fix="runbooks and policies are small; split or shorten the file",
                )
            if isinstance(event, _COLLECTION_STARTS):
                depth += 1
                if depth > limits.max_depth:
                    raise LoadError(
                        f"nesting is deeper than {limits.max_depth} levels",
                        source=source,
                        line=_event_line(event),
                        code="too_deep",
                        fix="flatten the document; runbooks need only a few levels",
                    )
                if depth > _C_MAX_DEPTH:  # only with a raised max_depth; Python's RecursionError is caught
                    return yaml.compose(text, Loader=yaml.SafeLoader)
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
    return yaml.compose(text, Loader=_CLoader)


def _build(node: yaml.Node, source: str | None, limits: Limits) -> Parsed:
    builder = _Builder(source, limits)
    try:
        data = builder.build(node, "", 0)
    except RecursionError:  # only when limits.max_depth is raised past what the stack holds
        raise LoadError(
            f"nesting is deeper than {limits.max_depth} levels", source=source, code="too_deep"
        ) from None
    return Parsed(data=data, lines=builder.lines, source=source)


def _parse_json(text: str, source: str | None, limits: Limits) -> Parsed:
    try:
        data = json.loads(text, object_pairs_hook=lambda pairs: _json_object(pairs, source))
    except json.JSONDecodeError as exc:
        raise LoadError(
            f"invalid JSON: {exc.msg} (column {exc.colno})", source=source, line=exc.lineno
        ) from None
    except RecursionError:
        raise LoadError(
            f"nesting is deeper than {limits.max_depth} levels", source=source, code="too_deep"
        ) from None
    except ValueError as exc:  # e.g. an integer too long to convert
        raise LoadError(f"bad value: {exc}", source=source) from None
    # In valid JSON a tab can only be whitespace between tokens, so spaces mean the same; YAML
    # then reads it with the usual limits and a line map.
    try:
        node = yaml.compose(text.replace("\t", " "), Loader=yaml.SafeLoader)
    except (yaml.YAMLError, RecursionError):
        node = None
    if node is None:
        problem = plain_data_problem(data, limits)
        if problem:
            path, message, code = problem
            raise LoadError(message, source=source, path=path or None, code=code)
        return Parsed(data=data, source=source)
    return _build(node, source, limits)


def _json_object(pairs: list[tuple[str, Any]], source: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise LoadError(
                f"duplicate key '{key}'", source=source, fix="each key may appear once in a mapping"
            )
        out[key] = value
    return out


def _check_nesting(text: str, source: str | None, limits: Limits) -> None:
    """Refuse deep nesting before the recursive YAML composer sees it.

    Counts flow brackets and indentation steps; cheap, and errs towards refusing only
    documents no human-written runbook would have.
    """
    depth = 0
    deepest = 0
    for ch in text:
        if ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth = max(0, depth - 1)
    indent_levels = 0
    for line in text.splitlines():
        stripped = line.lstrip(" -")
        if stripped:
            indent_levels = max(indent_levels, (len(line) - len(stripped)) // 2)
    if max(deepest, indent_levels) > limits.max_depth:
        raise LoadError(
            f"nesting is deeper than {limits.max_depth} levels",
            source=source,
            code="too_deep",
            fix="flatten the document; runbooks need only a few levels",
        )


def _yaml_error(exc: yaml.YAMLError, source: str | None, text: str | None = None) -> LoadError:
    """A LoadError at the problem's line; an error at the end of the stream (libyaml places it
    past the last line) points at the last line instead."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or (str(exc).splitlines() or [type(exc).__name__])[0]
    context = getattr(exc, "context", None)
    message = f"invalid YAML: {problem}" + (f" ({context})" if context else "")
    line = mark.line + 1 if mark else None
    if line is not None and text is not None:
        line = min(line, len(text.splitlines()) or 1)
    return LoadError(
        message,
        source=source,
        line=line,
        fix="check indentation and quoting near that line",
    )


_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_PLAIN_TAGS = frozenset(
    f"tag:yaml.org,2002:{t}" for t in ("map", "seq", "str", "int", "float", "bool", "null", "timestamp")
)


class _Builder:
    """Turns a composed YAML node graph into plain data, counting every node it expands."""

    def __init__(self, source: str | None, limits: Limits) -> None:
        self.source, self.limits = source, limits
        self.lines: dict[str, int] = {}
        self.count = 0
        self.constructor = yaml.SafeLoader("")

    def build(self, node: yaml.Node, path: str, depth: int) -> Any:
        self.count += 1
        if self.count > self.limits.max_nodes:
            raise LoadError(
                f"expands to more than {self.limits.max_nodes:,} nodes (an anchors/aliases bomb?)",
                source=self.source,
                code="too_many_nodes",
                fix="do not use YAML aliases to repeat large structures",
            )
        if depth > self.limits.max_depth:
            raise LoadError(
                f"nesting is deeper than {self.limits.max_depth} levels",
                source=self.source,
                code="too_deep",
            )
        self.lines.setdefault(path, node.start_mark.line + 1)
        self._refuse_unplain_tag(node)
        if node.tag == _TIMESTAMP:
            return node.value
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path, depth)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, f"{path}[{i}]", depth + 1) for i, item in enumerate(node.value)]
        return self._scalar(node)

    def _refuse_unplain_tag(self, node: yaml.Node) -> None:
        """Keys and values alike: only the plain YAML types, never python/object or binary."""
        if node.tag not in _PLAIN_TAGS:
            raise LoadError(
                f"YAML tag '{node.tag}' is not allowed",
                source=self.source,
                line=node.start_mark.line + 1,
                fix="use plain strings, numbers, booleans, lists and mappings",
            )

    def _scalar(self, node: yaml.Node) -> Any:
        line = node.start_mark.line + 1
        try:
            value = self.constructor.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            raise _yaml_error(exc, self.source) from None
        except (ValueError, OverflowError, KeyError, TypeError) as exc:
            raise LoadError(f"bad value: {exc}", source=self.source, line=line) from None
        if isinstance(value, str) and not is_unicode(value):
            raise LoadError(
                "contains a lone surrogate escape, which is not Unicode text", source=self.source, line=line
            )
        if isinstance(value, int) and not _int_fits(value):
            raise LoadError(
                "number is too large (integers must fit in 64 bits)",
                source=self.source,
                line=line,
                code="too_large",
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise LoadError(
                "is not a finite number (NaN or infinity)", source=self.source, line=line, code="not_finite"
            )
        return value

    def _mapping(self, node: yaml.MappingNode, path: str, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise LoadError(
                    "YAML merge keys ('<<') are not allowed",
                    source=self.source,
                    line=key_node.start_mark.line + 1,
                    fix="write the keys out",
                )
            if not isinstance(key_node, yaml.ScalarNode):
                raise LoadError(
                    "mapping keys must be plain scalars",
                    source=self.source,
                    line=key_node.start_mark.line + 1,
                )
            self._refuse_unplain_tag(key_node)
            key = key_node.value if key_node.tag == _TIMESTAMP else self._scalar(key_node)
            if not isinstance(key, str):
                key = str(key)
            child = f"{path}.{key}" if path else key
            if key in out:
                raise LoadError(
                    f"duplicate key '{key}'",
                    source=self.source,
                    line=key_node.start_mark.line + 1,
                    path=child,
                    fix="each key may appear once in a mapping",
                )
            self.lines.setdefault(child, key_node.start_mark.line + 1)
            out[key] = self.build(value_node, child, depth + 1)
        return out


_PLAIN_SCALARS = (str, int, float, bool, type(None), date, datetime)
_INT_RANGE = (-(2**63), 2**63 - 1)
"""Integers a run's state can hold: the checkpointer (msgpack) and the store stop at 64 bits,
and a runbook with max_depth: 10**30 crashed the run it started, leaving it 'running'."""


def _int_fits(value: int) -> bool:
    return _INT_RANGE[0] <= value <= _INT_RANGE[1]


def is_unicode(value: str) -> bool:
    """False for a string holding a lone surrogate, which JSON and YAML escapes allow and no
    file, store or terminal can encode."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def plain_data_problem(data: Any, limits: Limits = DEFAULT_LIMITS) -> tuple[str, str, str] | None:
    """(path, message, code) of the first thing in `data` that a parsed file could not hold.

    Data that did not come through :func:`parse_text` (a planner's output, a test) gets the
    same bounds: nesting, node count, integers that fit in text, real Unicode, and only plain
    types. Iterative, so a self-containing or very deep structure cannot exhaust the stack.
    """
    stack: list[tuple[Any, str, int]] = [(data, "", 0)]
    count = 0
    while stack:
        value, path, depth = stack.pop()
        count += 1
        if count > limits.max_nodes:
            return path, f"has more than {limits.max_nodes:,} nodes", "too_many_nodes"
        if depth > limits.max_depth:
            return path, f"nesting is deeper than {limits.max_depth} levels", "too_deep"
        if isinstance(value, dict):
            for key, item in value.items():
                if isinstance(key, str) and not is_unicode(key):
                    return path, "a key is not Unicode text (lone surrogate)", "encoding"
                stack.append((item, f"{path}.{key}" if path else str(key), depth + 1))
        elif isinstance(value, list | tuple):
            stack.extend((item, f"{path}[{i}]", depth + 1) for i, item in enumerate(value))
        elif isinstance(value, float) and not math.isfinite(value):
            # JSON's NaN/Infinity and YAML's .nan/.inf: no schema bound refuses them, and they
            # do not survive a round trip through JSON (the graph would see null)
            return path, "is not a finite number (NaN or infinity)", "not_finite"
        elif isinstance(value, bool | float) or value is None:
            continue
        elif isinstance(value, int):
            if not _int_fits(value):
                return path, "number is too large (integers must fit in 64 bits)", "too_large"
        elif isinstance(value, str):
            if not is_unicode(value):
                return path, "is not Unicode text (lone surrogate)", "encoding"
        elif not isinstance(value, _PLAIN_SCALARS):
            kind = type(value).__name__
            return path, f"{kind} is not plain data (strings, numbers, lists, mappings)", "type"
    return None


def format_loc(loc: tuple[int | str, ...]) -> str:
    """Pydantic's ('steps', 0, 'analyser', 'id') as 'steps[0].id'.

    The step union's tag ('analyser' or 'workflow') right after a step index is dropped.
    """
    out = ""
    for i, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in _STEP_TAGS and i >= 2 and isinstance(loc[i - 1], int) and loc[i - 2] == "steps":
            continue
        else:
            out += f".{part}" if out else str(part)
    return out


_STEP_TAGS = ("analyser", "workflow")


def validation_errors(exc: ValidationError, parsed: Parsed) -> list[tuple[str, int | None, str]]:
    """(path, line, message) for each pydantic error, lines looked up in the parsed source."""
    out = []
    for err in exc.errors(include_url=False):
        path = format_loc(tuple(err["loc"]))
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = "unknown field (typo?)"
        out.append((path, parsed.line_of(path), message))
    return out


def load_model(model: type[M], parsed: Parsed, *, what: str, error: type[LoadError] = LoadError) -> M:
    """Validate parsed data into `model`; on failure one LoadError listing every problem."""
    if not isinstance(parsed.data, dict):
        raise error(
            f"a {what} must be a mapping at the top level, not {type(parsed.data).__name__}",
            source=parsed.source,
            line=1,
        )
    try:
        return model.model_validate(parsed.data)
    except ValidationError as exc:
        problems = validation_errors(exc, parsed)
        first_path, first_line, _ = problems[0]
        lines = [f"{p or '<top>'}" + (f" (line {ln})" if ln else "") + f": {m}" for p, ln, m in problems[:20]]
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise error(
            f"not a valid {what}:\n  " + "\n  ".join(lines) + more,
            source=parsed.source,
            line=first_line,
            path=first_path or None,
            fix=f"see `warden schema {what.replace(' ', '-')}` for the expected shape",
            code="schema",
        ) from None
