"""Fuzzing the guard: whatever a planner or a person writes, the answer is a report or a LoadError.

Seeds are the bundled root runbook and a few variants (an inline child, many steps, a deep
chain of inline children). Hypothesis applies random structural mutations to them as Python
data, and byte-level mutations to their YAML and JSON text. The guard must never raise
anything but :class:`warden.errors.LoadError`, and what it returns must be a valid report.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from warden.errors import LoadError
from warden.guard import GuardContext, validate_data
from warden.safeload import Parsed, decode, parse_text
from warden.schemas.report import ISSUE_CODES, ValidationReport


def fuzz(examples: int) -> settings:
    """Derandomized (stable in CI), no example database, no deadline: a fixed fuzz budget."""
    return settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# ---------------------------------------------------------------------------------------------
# Seeds


@pytest.fixture(scope="module")
def ctx(catalogue, acme_policy) -> GuardContext:
    return GuardContext(catalogue=catalogue, policy=acme_policy, tenant="acme")


@pytest.fixture(scope="module")
def seeds(_root_runbook_data) -> list[dict[str, Any]]:
    root = copy.deepcopy(_root_runbook_data)

    def child(name: str) -> dict[str, Any]:
        return {
            "runbook": name,
            "tenant": "acme",
            "inputs": {"document": "document"},
            "approval": {"required_role": "dpo"},
            "steps": [
                {"id": "scan", "analyser": "personal_data_scan", "system": "crm"},
                {"id": "practices", "analyser": "policy_practices", "input": "document"},
            ],
        }

    inline = copy.deepcopy(root)
    inline["steps"][3]["execute_workflow"] = child("inline-child")

    many = copy.deepcopy(root)
    many["steps"] += [
        {"id": f"extra-{i}", "analyser": "gdpr_transparency", "input": ["practices"]} for i in range(8)
    ]

    deep = copy.deepcopy(root)
    here = deep
    for level in range(4):
        nested = child(f"level-{level}")
        nested["steps"].append({"id": "deeper", "execute_workflow": "{{ steps.scan.output }}"})
        here["steps"][-1]["execute_workflow"] = nested
        here = nested

    return [root, inline, many, deep]


# ---------------------------------------------------------------------------------------------
# Mutations

TEMPLATES = [
    "{{ steps.plan.output }}",
    "{{ inputs.document }}",
    "{{ steps.nope.output }}",
    "{{ config.__class__.__mro__ }}",
    "{% for x in y %}{% endfor %}",
    "${HOME}",
    "#{`id`}",
    "<%= system('id') %>",
    "{{ steps.plan.output }} and more",
    "{{",
    "}}",
]
PATHS = [
    "../../etc/passwd",
    "/etc/shadow",
    "~/secrets",
    "file:///etc/passwd",
    "C:\\Windows",
    "systems/../..",
    "systems/crm.sqlite",
    "documents/a\x00b",
]
NAMES = [
    "policy_practices",
    "gdpr_transparency",
    "policy_to_runbook",
    "personal_data_scan",
    "third_party_scan",
    "disclosure_gap",
    "no_such_analyser",
    "acme",
    "globex",
    "nobody",
    "globex-hr",
    "crm",
    "webshop-src",
    "dpo",
    "analyst",
    "admin",
    "document",
    "practices",
    "plan",
    "checks",
    "transparency",
]
KEYS = [
    "runbook", "version", "tenant", "inputs", "limits", "approval", "model", "steps", "id", "analyser",
    "input", "system", "config", "execute_workflow", "timeout_s", "retry", "description", "cites",
    "max_depth", "max_cost_usd", "max_duration_s", "step_timeout_s", "required_role", "path", "files",
    "stesp", "analyzer", "<<", "", "__proto__",
]  # fmt: skip

EXOTIC: list[Any] = [
    2**64,
    -(2**63) - 1,
    10**400,
    float("nan"),
    float("inf"),
    float("-inf"),
    -0.0,
    "\ud800",
    "\udfff{{ steps.plan.output }}",
    "a\x00b",
    "\u202e",
    "\x1b[31m",
    "x" * 5000,
    "",
    b"bytes",
    b"\xff\xfe",
    (1, "two"),
    {1, 2},
    frozenset(),
    [[[[[]]]]],
    {"": {"": {}}},
    {1: "int key"},
    {None: "none key"},
    {("tuple",): "tuple key"},
]
"""Values no YAML file gives, that a planner's output (Python data) still might."""

huge_ints = st.integers(4000, 6000).map(lambda digits: 10**digits)  # too long to print by default

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    huge_ints,
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["\ud800", "\x00", "\u202e", "\x1b[31m", "ǅ", "😀" * 3, " " * 5, "\n"]),
    st.sampled_from(EXOTIC),
    st.sampled_from(TEMPLATES),
    st.sampled_from(PATHS),
    st.sampled_from(NAMES),
)
junk = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), inner, max_size=4),
    ),
    max_leaves=12,
)

# Junk that serializes to both YAML and JSON (the text fuzz dumps it).
text_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(st.characters(exclude_categories=["Cs"]), max_size=20),
    st.sampled_from(TEMPLATES + PATHS + NAMES),
)
text_junk = st.recursive(
    text_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(KEYS), inner, max_size=3),
    ),
    max_leaves=8,
)

OPS = (
    "drop",
    "duplicate",
    "rename",
    "replace",
    "delete_step",
    "duplicate_step",
    "cycle",
    "analyser",
    "tenant",
    "template",
    "path",
    "nest",
    "config",
    "field",
    "self_ref",
)
STEP_OPS = ("delete_step", "duplicate_step", "cycle", "analyser", "template", "path", "nest", "config")
FIELDS = [
    ("runbook",), ("version",), ("tenant",), ("description",), ("inputs",), ("limits",), ("model",),
    ("approval",), ("steps",), ("limits", "max_depth"), ("limits", "max_cost_usd"),
    ("limits", "step_timeout_s"), ("approval", "required_role"), ("inputs", "document"),
]  # fmt: skip


def _containers(value: Any, path: tuple = ()) -> list[tuple]:
    """Paths of every dict and list inside `value`, the root included."""
    out = []
    seen: set[int] = set()
    stack = [(value, path)]
    while stack:
        node, here = stack.pop()
        if id(node) in seen:  # a self-containing runbook: visit each container once
            continue
        seen.add(id(node))
        if isinstance(node, dict):
            out.append(here)
            stack.extend((v, (*here, k)) for k, v in node.items())
        elif isinstance(node, list):
            out.append(here)
            stack.extend((v, (*here, i)) for i, v in enumerate(node))
    return out


def _at(value: Any, path: tuple) -> Any:
    for part in path:
        value = value[part]
    return value


def _step_lists(value: Any) -> list[list]:
    return [
        _at(value, p)
        for p in _containers(value)
        if p and p[-1] == "steps" and isinstance(_at(value, p), list)
    ]


def mutate(data: Any, draw, value_strategy, *, allow_self_ref: bool) -> Any:
    """Apply one random mutation to `data` in place (or return a replacement root)."""
    op = draw(st.sampled_from(OPS if allow_self_ref else OPS[:-1]))
    where = _at(data, draw(st.sampled_from(_containers(data)))) if _containers(data) else None
    steps = _step_lists(data)
    if op in ("drop", "duplicate", "rename", "replace") and isinstance(where, dict) and where:
        key = draw(st.sampled_from(sorted(where, key=str)))
        if op == "drop":
            del where[key]
        elif op == "duplicate":
            where[draw(st.sampled_from(KEYS))] = copy.deepcopy(where[key])
        elif op == "rename":
            where[draw(st.one_of(st.sampled_from(KEYS), st.text(max_size=6)))] = where.pop(key)
        else:
            where[key] = draw(value_strategy)
    elif op in ("drop", "duplicate", "rename", "replace") and isinstance(where, list) and where:
        i = draw(st.integers(0, len(where) - 1))
        if op == "drop":
            del where[i]
        elif op == "duplicate":
            where.insert(i, copy.deepcopy(where[i]))
        else:
            where[i] = draw(value_strategy)
    elif op == "field" and isinstance(data, dict):
        *parents, key = draw(st.sampled_from(FIELDS))
        holder = data
        for parent in parents:
            if not isinstance(holder.get(parent), dict):
                holder[parent] = {}
            holder = holder[parent]
        holder[key] = draw(value_strategy)
    elif op in STEP_OPS and steps:
        step_list = draw(st.sampled_from(steps))
        if not step_list:
            return data
        i = draw(st.integers(0, len(step_list) - 1))
        step = step_list[i]
        if op == "delete_step":
            del step_list[i]
        elif op == "duplicate_step":
            step_list.append(copy.deepcopy(step))
        elif not isinstance(step, dict):
            step_list[i] = draw(value_strategy)
        elif op == "cycle":
            other = step_list[draw(st.integers(0, len(step_list) - 1))]
            other_id = other.get("id") if isinstance(other, dict) else None
            step["input"] = [other_id, step.get("id")]
            if draw(st.booleans()):
                step["execute_workflow"] = f"{{{{ steps.{step.get('id')}.output }}}}"
        elif op == "config":
            config = step["config"] if isinstance(step.get("config"), dict) else {}
            config[draw(st.sampled_from(KEYS))] = draw(value_strategy)
            step["config"] = config
        elif op == "analyser":
            step["analyser"] = draw(st.one_of(st.sampled_from(NAMES), st.text(max_size=12)))
        elif op == "template":
            field = draw(st.sampled_from(["execute_workflow", "description", "system", "id", "config"]))
            template = draw(st.sampled_from(TEMPLATES))
            step[field] = {"query": template} if field == "config" else template
        elif op == "path":
            key = draw(st.sampled_from(["path", "files", "root", "location", "note"]))
            step["config"] = {key: draw(st.sampled_from(PATHS))}
            step["system"] = draw(st.sampled_from([*NAMES, None]))
        else:  # nest: wrap a copy of the whole runbook as this step's inline child
            step.pop("analyser", None)
            step["execute_workflow"] = copy.deepcopy(data)
    elif op == "tenant" and isinstance(data, dict):
        data["tenant"] = draw(st.sampled_from(["globex", "acme", "nobody", "Acme", "", "../acme"]))
    elif op == "self_ref" and isinstance(data, dict) and steps and steps[0]:
        if isinstance(steps[0][0], dict):
            steps[0][0]["execute_workflow"] = data  # a runbook that contains itself
    elif where is None or draw(st.booleans()):
        return draw(value_strategy)  # replace the whole document
    return data


# ---------------------------------------------------------------------------------------------
# The property


def assert_report(report: object) -> ValidationReport:
    assert isinstance(report, ValidationReport)
    assert type(report.ok) is bool
    for item in report.issues:
        assert item.code in ISSUE_CODES, item.code
        assert item.line is None or item.line >= 1
    assert report.ok == (not any(i.severity == "error" for i in report.issues))
    # The report is a valid contract: it survives its own JSON round trip unchanged.
    again = ValidationReport.model_validate_json(report.model_dump_json())
    assert again.model_dump() == report.model_dump()
    return report


def guard(parsed: Parsed, ctx: GuardContext) -> ValidationReport | None:
    """The guard's answer, or None when it refused the input with a LoadError."""
    try:
        report = validate_data(parsed, ctx)
    except LoadError:
        return None
    return assert_report(report)


def guard_text(text: str, ctx: GuardContext) -> ValidationReport | None:
    try:
        parsed = parse_text(text, source="fuzz.yaml")
    except LoadError as exc:
        assert exc.reason and exc.source == "fuzz.yaml"
        return None
    return guard(parsed, ctx)


# ---------------------------------------------------------------------------------------------
# Tests


def test_seeds_are_valid_runbooks_so_mutations_start_from_a_passing_state(seeds, ctx):
    for seed in seeds[:3]:
        report = guard(Parsed(copy.deepcopy(seed)), ctx)
        assert report is not None and report.runbook_sha256
    assert guard(Parsed(copy.deepcopy(seeds[0])), ctx).ok


@fuzz(400)
@given(data=st.data())
def test_mutated_runbook_data_yields_a_report_or_load_error(data, seeds, ctx):
    runbook: Any = copy.deepcopy(data.draw(st.sampled_from(seeds)))
    for _ in range(data.draw(st.integers(1, 10))):
        runbook = mutate(runbook, data.draw, junk, allow_self_ref=True)
        guard(Parsed(runbook), ctx)  # every intermediate runbook is a fuzz case too


SLOTS: list[tuple] = [
    ("version",),
    ("runbook",),
    ("tenant",),
    ("description",),
    ("inputs", "document"),
    ("limits", "max_cost_usd"),
    ("limits", "max_depth"),
    ("approval", "required_role"),
    ("model",),
    ("steps", 0, "config"),
    ("steps", 0, "config", "x"),
    ("steps", 0, "config", "x", "y"),
    ("steps", 0, "input"),
    ("steps", 0, "cites"),
    ("steps", 0, "timeout_s"),
    ("steps", 2, "retry", "backoff_s"),
    ("steps", 3, "execute_workflow"),
    ("steps", 3, "limits", "max_depth"),
    ("steps", 3, "execute_workflow", "version"),
    ("steps", 3, "execute_workflow", "steps", 1, "config", "x"),
]
"""Where to put each exotic value: every kind of field, configs (typed Any), inline children."""


def _put(data: dict[str, Any], slot: tuple, value: Any) -> None:
    for part in slot[:-1]:
        if isinstance(data, dict) and not isinstance(data.get(part), dict | list):
            data[part] = {}
        data = data[part]
    data[slot[-1]] = value


def _ident(value: Any) -> str:
    if isinstance(value, int) and value.bit_length() > 14_000:
        return "int-too-long-to-print"
    if type(value) is object:
        return "object()"
    return repr(value)[:24]


@pytest.mark.parametrize("value", [*EXOTIC, 10**5000, object()], ids=_ident)
def test_exotic_value_in_any_field_yields_a_report(value, seeds, ctx):
    for slot in SLOTS:
        runbook = copy.deepcopy(seeds[1])  # the variant with an inline child
        _put(runbook, slot, value)
        report = guard(Parsed(runbook), ctx)
        assert report is not None, slot


@fuzz(200)
@given(data=st.data())
def test_validating_the_same_data_twice_gives_the_same_report(data, seeds, ctx):
    runbook: Any = copy.deepcopy(data.draw(st.sampled_from(seeds)))
    for _ in range(data.draw(st.integers(0, 4))):
        runbook = mutate(runbook, data.draw, junk, allow_self_ref=False)
    first = guard(Parsed(runbook), ctx)
    second = guard(Parsed(copy.deepcopy(runbook)), ctx)
    assert (first is None) == (second is None)
    if first is not None:
        assert first.model_dump() == second.model_dump()


def _dumps(runbook: Any) -> tuple[str, str]:
    as_yaml = yaml.safe_dump(runbook, sort_keys=False, allow_unicode=True)
    as_json = json.dumps(runbook, indent=2, ensure_ascii=False)
    return as_yaml, as_json


@fuzz(100)
@given(data=st.data())
def test_yaml_and_json_of_the_same_runbook_hash_and_judge_the_same(data, seeds, ctx):
    runbook: Any = copy.deepcopy(data.draw(st.sampled_from(seeds)))
    for _ in range(data.draw(st.integers(0, 3))):
        runbook = mutate(runbook, data.draw, text_junk, allow_self_ref=False)
    as_yaml, as_json = _dumps(runbook)
    from_yaml, from_json = guard_text(as_yaml, ctx), guard_text(as_json, ctx)
    # A runbook made of plain data round-trips through either format to the same report ...
    assert from_yaml is not None and from_json is not None
    assert from_yaml.runbook_sha256 == from_json.runbook_sha256
    assert [(i.code, i.path) for i in from_yaml.issues] == [(i.code, i.path) for i in from_json.issues]
    # ... which is the one the guard gives the data itself.
    direct = guard(Parsed(copy.deepcopy(runbook)), ctx)
    assert direct is not None and direct.runbook_sha256 == from_yaml.runbook_sha256


FRAGMENTS = [
    b"\x00",
    b"\t",
    b"\xff",
    b"\xc3",
    b"\xef\xbb\xbf",
    b"\n",
    b": ",
    b"- ",
    b"\n  - ",
    b"{",
    b"}",
    b"[",
    b"]",
    b'"',
    b"'",
    b"&a ",
    b"*a",
    b"<<: *a",
    b"!!python/object:os.system ",
    b"!!binary ",
    b"!!bool ",
    b"!!int ",
    b"!foo ",
    b"? ",
    b"---\n",
    b"...",
    b"%YAML 1.1\n",
    b"\\ud800",
    b"{{ steps.x.output }}",
    b"../",
    b"9" * 30,
    b"\x1b",
    b"\r",
    b"\xe2\x80\xae",
]


@fuzz(500)
@given(data=st.data())
def test_byte_mutated_yaml_and_json_text_yields_a_report_or_load_error(data, seeds, ctx):
    runbook: Any = copy.deepcopy(data.draw(st.sampled_from(seeds)))
    if data.draw(st.booleans()):
        runbook = mutate(runbook, data.draw, text_junk, allow_self_ref=False)
    raw = bytearray(data.draw(st.sampled_from(_dumps(runbook))).encode("utf-8"))
    for _ in range(data.draw(st.integers(1, 8))):
        at = data.draw(st.integers(0, len(raw)))
        kind = data.draw(st.sampled_from(["insert", "delete", "flip", "fragment", "truncate"]))
        if kind == "insert":
            raw[at:at] = bytes([data.draw(st.integers(0, 255))])
        elif kind == "delete":
            del raw[at : at + data.draw(st.integers(1, 16))]
        elif kind == "flip" and at < len(raw):
            raw[at] ^= 1 << data.draw(st.integers(0, 7))
        elif kind == "fragment":
            raw[at:at] = data.draw(st.sampled_from(FRAGMENTS))
        else:
            del raw[at:]
    try:
        text = decode(bytes(raw), "fuzz.yaml")
    except LoadError:
        return
    guard_text(text, ctx)


@fuzz(15)
@given(levels=st.integers(1, 30), flow=st.booleans())
def test_deeply_nested_inline_children_are_refused_or_reported_not_crashed(levels, flow, seeds, ctx):
    root = copy.deepcopy(seeds[0])
    here = root
    for level in range(levels):
        nested = copy.deepcopy(seeds[0])
        nested["runbook"] = f"level-{level}"
        here["steps"][3]["execute_workflow"] = nested
        here = nested
    report = guard(Parsed(root), ctx)
    assert report is not None and not report.ok
    codes = {i.code for i in report.issues}
    assert codes & {"depth_limit", "schema"}
    text = json.dumps(root) if flow else yaml.safe_dump(root)
    guard_text(text, ctx)
