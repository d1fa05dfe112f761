"""Hostile files through read_text / parse_text / read_runbook: each is refused with a LoadError
that says what is wrong (and on which line), never another exception, never a blow-up."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest
import yaml

from warden.errors import LoadError
from warden.guard import GuardContext, validate_data
from warden.runbooks import parse_runbook, read_runbook, runbook_from_data
from warden.safeload import Limits, Parsed, parse_text, plain_data_problem, read_text

REPO = Path(__file__).resolve().parents[2]
ROOT_RUNBOOK = REPO / "runbooks" / "privacy-policy-review.yaml"


def write(tmp_path: Path, content: bytes | str, name: str = "runbook.yaml") -> Path:
    path = tmp_path / name
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return path


def refused(path: Path) -> LoadError:
    """The LoadError read_runbook raises for `path` (any other exception fails the test)."""
    with pytest.raises(LoadError) as info:
        read_runbook(path)
    error = info.value
    assert error.source == str(path)
    assert error.reason
    return error


# --- syntax ----------------------------------------------------------------------------------


def test_malformed_yaml_names_the_line_of_the_problem(tmp_path):
    path = write(
        tmp_path,
        "runbook: broken\ntenant: acme\nsteps:\n  - id: a\n    analyser: x\n    input: [document\n"
        "  - id: b\n",
    )
    error = refused(path)
    assert error.reason.startswith("invalid YAML")
    assert error.line in (6, 7)
    assert f"{path}:{error.line}" in str(error)


def test_bad_indentation_is_reported_with_its_line(tmp_path):
    error = refused(write(tmp_path, "runbook: a\ntenant: acme\n  steps: []\n"))
    assert "invalid YAML" in error.reason
    assert error.line == 3


def test_unclosed_quote_is_a_load_error_not_a_scanner_exception(tmp_path):
    error = refused(write(tmp_path, 'runbook: "unterminated\ntenant: acme\n'))
    assert "invalid YAML" in error.reason


def test_two_documents_in_one_file_are_refused(tmp_path):
    error = refused(write(tmp_path, "runbook: a\n---\nrunbook: b\n"))
    assert "single document" in error.reason or "another document" in error.reason
    assert error.line == 2


# --- bytes that are not text -----------------------------------------------------------------


def test_binary_junk_is_refused_as_binary(tmp_path):
    junk = bytes(range(256)) * 4
    error = refused(write(tmp_path, junk, "runbook.bin"))
    assert error.code == "binary"
    assert "binary" in error.reason


def test_a_single_nul_byte_in_text_marks_the_file_binary(tmp_path):
    error = refused(write(tmp_path, b"runbook: a\ntenant: ac\x00me\n"))
    assert error.code == "binary"
    assert "NUL" in error.reason


def test_non_utf8_text_is_refused_with_the_offset_of_the_bad_byte(tmp_path):
    latin1 = "runbook: café\n".encode("latin-1")
    error = refused(write(tmp_path, latin1))
    assert error.code == "encoding"
    assert "UTF-8" in error.reason
    bad = latin1.index("é".encode("latin-1"))
    assert f"offset {bad}" in error.reason


def test_utf8_bom_is_accepted(tmp_path):
    path = write(tmp_path, b"\xef\xbb\xbf" + ROOT_RUNBOOK.read_bytes())
    assert read_runbook(path).data["runbook"] == "privacy-policy-review"


def test_control_characters_in_yaml_are_refused(tmp_path):
    error = refused(write(tmp_path, "runbook: a\x1b[31m\n"))
    assert "invalid YAML" in error.reason
    # PyYAML's own reader and libyaml word it differently
    assert "special characters" in error.reason or "control characters" in error.reason


def test_lone_surrogate_escape_is_refused_not_passed_on(tmp_path):
    error = refused(write(tmp_path, 'runbook: a\ndescription: "\\ud800"\n'))
    assert "surrogate" in error.reason or "invalid Unicode character escape" in error.reason
    assert error.line == 2


# --- size ------------------------------------------------------------------------------------


def test_a_50mb_file_is_refused_by_size_before_it_is_read(tmp_path):
    path = tmp_path / "huge.yaml"
    with path.open("wb") as fh:
        fh.write(b"runbook: huge\ndescription: ")
        fh.seek(50 * 2**20)
        fh.write(b"x\n")
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(LoadError) as info:
            read_text(path)
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.value.code == "too_large"
    assert "over the" in info.value.reason and "limit" in info.value.reason
    assert f"{50 * 2**20 + 2:,} bytes" in info.value.reason
    assert elapsed < 0.5
    assert peak < 2**20  # nothing like the file was loaded into memory


def test_text_over_the_byte_limit_is_refused_by_parse_text():
    with pytest.raises(LoadError) as info:
        parse_text("a: " + "x" * 2000, limits=Limits(max_bytes=1000))
    assert info.value.code == "too_large"
    assert "over the 1,000-byte limit" in info.value.reason


def test_a_file_just_over_a_tighter_limit_is_refused(tmp_path):
    path = write(tmp_path, "a: " + "x" * 100)
    with pytest.raises(LoadError) as info:
        read_text(path, Limits(max_bytes=50))
    assert info.value.code == "too_large"
    assert "over the 50-byte limit" in info.value.reason


# --- nesting and bombs -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("[" * 10_000 + "]" * 10_000, id="flow-sequences"),
        pytest.param("{a: " * 10_000 + "1" + "}" * 10_000, id="flow-mappings"),
        pytest.param("- " * 10_000 + "x\n", id="block-sequences"),
        pytest.param("".join(" " * i + "a:\n" for i in range(1000)) + " " * 1000 + "a: 1\n", id="block-maps"),
        pytest.param("steps:\n  - " + "[" * 10_000 + "]" * 10_000, id="flow-inside-block"),
    ],
)
def test_deep_nesting_is_refused_as_too_deep_and_quickly(text):
    start = time.perf_counter()
    with pytest.raises(LoadError) as info:
        parse_text(text, source="deep.yaml")
    assert info.value.code == "too_deep"
    assert "deeper than 64 levels" in info.value.reason
    assert time.perf_counter() - start < 2


@pytest.mark.parametrize("levels", [600, 2_000])
def test_deep_nesting_past_the_stack_is_a_load_error_even_with_the_depth_limit_raised(levels):
    limits = Limits(max_depth=10**6, max_bytes=10**8)
    with pytest.raises(LoadError) as info:
        parse_text("[" * levels + "]" * levels, limits=limits)
    assert info.value.code == "too_deep"


def test_nesting_within_the_limit_is_accepted():
    parsed = parse_text("a: " + "[" * 60 + "1" + "]" * 60)
    value = parsed.data["a"]
    for _ in range(60):
        value = value[0]
    assert value == 1


def test_compact_nesting_without_indentation_is_refused_without_crashing_the_process():
    """'? ? ? a' and '- ? - ? a' nest with neither brackets nor indentation. libyaml's composer
    recurses in C, so past the stack it kills the interpreter instead of raising; each case
    runs in its own process so a crash fails the test instead of the whole session."""
    script = (
        "from warden.safeload import Limits, parse_text\n"
        "from warden.errors import LoadError\n"
        "texts = ['? ' * 100_000 + 'a\\n', '- ? ' * 100_000 + 'a\\n', '[' * 100_000 + ']' * 100_000]\n"
        "for limits in (Limits(), Limits(max_depth=10**6, max_bytes=10**8)):\n"
        "    for text in texts:\n"
        "        try:\n"
        "            parse_text(text, limits=limits)\n"
        "        except LoadError as exc:\n"
        "            print(exc.code)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["too_deep"] * 6


def test_a_file_of_a_quarter_million_numbers_is_refused_at_the_node_limit_within_seconds():
    """The pure-Python composer built every node before counting them: about 25 s of CPU here,
    and ~100 s for a 2 MB file of a million, before the refusal."""
    text = "a: [" + ",".join(["1"] * 250_000) + "]\n"
    start = time.process_time()
    with pytest.raises(LoadError) as info:
        parse_text(text, source="numbers.yaml")
    assert info.value.code == "too_many_nodes"
    assert info.value.line == 1
    assert time.process_time() - start < 5


BILLION_LAUGHS = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def test_billion_laughs_alias_bomb_is_refused_quickly_without_expanding(tmp_path):
    path = write(tmp_path, BILLION_LAUGHS)  # 9**9 = 387 million strings if expanded
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    with pytest.raises(LoadError) as info:
        read_runbook(path)
    elapsed = time.perf_counter() - start
    grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
    assert info.value.code == "too_many_nodes"
    assert "more than 200,000 nodes" in info.value.reason
    assert "aliases bomb" in info.value.reason
    assert elapsed < 5
    assert grown_kb < 300 * 1024  # peak memory grew by less than 300 MB


def test_alias_bomb_is_refused_at_the_node_limit_with_bounded_memory():
    tracemalloc.start()
    try:
        with pytest.raises(LoadError) as info:
            parse_text(BILLION_LAUGHS, limits=Limits(max_nodes=5_000))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.value.code == "too_many_nodes"
    assert peak < 20 * 2**20


def test_a_self_referencing_alias_is_refused_not_looped_on():
    with pytest.raises(LoadError) as info:
        parse_text("a: &x [*x]\n")
    assert info.value.code == "too_deep"


def test_modest_aliases_are_still_allowed():
    parsed = parse_text("base: &b {x: 1}\nother: *b\n")
    assert parsed.data == {"base": {"x": 1}, "other": {"x": 1}}


# --- keys and tags ---------------------------------------------------------------------------


def test_duplicate_keys_are_refused_with_the_line_and_path(tmp_path):
    path = write(tmp_path, "runbook: a\ntenant: acme\nsteps:\n  - id: s\n    id: t\n")
    error = refused(path)
    assert error.reason == "duplicate key 'id'"
    assert error.line == 5
    assert error.path == "steps[0].id"


def test_duplicate_keys_in_flow_style_are_refused():
    with pytest.raises(LoadError) as info:
        parse_text("{runbook: a, runbook: b}")
    assert "duplicate key 'runbook'" in info.value.reason


def test_merge_keys_are_refused_with_their_line():
    text = "base: &base {analyser: x}\nsteps:\n  - <<: *base\n    id: a\n"
    with pytest.raises(LoadError) as info:
        parse_text(text)
    assert "merge keys" in info.value.reason
    assert info.value.line == 3


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("a: !!python/object/apply:os.system ['echo pwned']\n", id="apply"),
        pytest.param("a: !!python/object:collections.OrderedDict {}\n", id="object"),
        pytest.param("a: !!python/name:os.system\n", id="name"),
        pytest.param("a: !custom thing\n", id="local-tag"),
        pytest.param("a: !!set {x, y}\n", id="set"),
        pytest.param("a: !!binary aGVsbG8=\n", id="binary"),
    ],
)
def test_non_plain_tags_are_refused_and_never_constructed(text):
    with pytest.raises(LoadError) as info:
        parse_text(text)
    assert "is not allowed" in info.value.reason
    assert info.value.line == 1


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("!!python/name:os.system x: 1\n", id="python-key"),
        pytest.param("!!binary aGVsbG8=: 1\n", id="binary-key"),
        pytest.param("ok: 1\n!custom key: 2\n", id="local-tag-key"),
    ],
)
def test_tags_on_mapping_keys_are_refused_like_tags_on_values(text):
    with pytest.raises(LoadError) as info:
        parse_text(text)
    assert "is not allowed" in info.value.reason


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("a: 1\nb: !!bool maybe\n", 2),
        ("a: !!int 3.5\n", 1),
        ("a: !!float abc\n", 1),
        ("a: " + "1" * 5000 + "\n", 1),
    ],
)
def test_values_that_do_not_fit_their_tag_are_load_errors_with_the_line(text, line):
    with pytest.raises(LoadError) as info:
        parse_text(text)
    assert info.value.reason.startswith("bad value")
    assert info.value.line == line


# --- empty and odd shapes --------------------------------------------------------------------


@pytest.mark.parametrize("content", [b"", b"   \n\n", b"# only a comment\n", b"---\n"])
def test_empty_files_are_refused_as_empty(tmp_path, content):
    error = refused(write(tmp_path, content))
    assert error.code == "empty"


def test_a_top_level_list_is_refused_as_a_runbook_with_line_1(tmp_path):
    path = write(tmp_path, "- runbook: a\n- runbook: b\n")
    parsed = read_runbook(path)  # it is valid YAML ...
    with pytest.raises(LoadError) as info:  # ... but not a runbook
        parse_runbook(path.read_text(), source=str(path))
    assert "must be a mapping at the top level, not list" in info.value.reason
    assert info.value.line == 1
    with pytest.raises(LoadError):
        runbook_from_data(parsed.data)


@pytest.mark.parametrize("text", ["just a string\n", "42\n", "null\n"])
def test_a_top_level_scalar_is_not_a_runbook(text):
    with pytest.raises(LoadError) as info:
        parse_runbook(text)
    assert "must be a mapping" in info.value.reason or info.value.code == "empty"


def test_missing_file_and_directory_are_load_errors(tmp_path):
    assert "not found" in refused(tmp_path / "nope.yaml").reason
    assert refused(tmp_path).reason in ("is a directory", "is not a regular file")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_unreadable_file_is_a_load_error(tmp_path):
    path = write(tmp_path, "a: 1\n")
    path.chmod(0)
    assert "permission denied" in refused(path).reason


# --- JSON ------------------------------------------------------------------------------------


def _root_json_with_tabs() -> str:
    data = yaml.safe_load(ROOT_RUNBOOK.read_text())
    return json.dumps(data, indent="\t")


def test_json_runbook_indented_with_tabs_loads_and_validates(tmp_path, catalogue, acme_policy):
    text = _root_json_with_tabs()
    with pytest.raises(yaml.YAMLError):  # tabs as indentation really do trip YAML
        yaml.safe_load(text)
    path = write(tmp_path, text, "runbook.json")
    parsed = read_runbook(path)
    assert parsed.data == yaml.safe_load(ROOT_RUNBOOK.read_text())
    report = validate_data(parsed, GuardContext(catalogue=catalogue, policy=acme_policy, tenant="acme"))
    assert report.ok, report.issues


def test_json_with_tabs_keeps_line_numbers_for_validation_errors(tmp_path):
    text = _root_json_with_tabs().replace('"input": "practices"', '"inptu": "practices"')
    typo_line = next(i for i, line in enumerate(text.splitlines(), 1) if '"inptu"' in line)
    assert typo_line > 20
    with pytest.raises(LoadError) as info:
        parse_runbook(text, source="runbook.json")
    assert info.value.line == typo_line
    assert info.value.path == "steps[1].inptu"


def test_json_with_tabs_and_duplicate_keys_is_refused():
    with pytest.raises(LoadError) as info:
        parse_text('{\n\t"runbook": "a",\n\t"runbook": "b"\n}')
    assert "duplicate key 'runbook'" in info.value.reason


def test_json_with_tabs_and_a_huge_integer_is_a_load_error():
    with pytest.raises(LoadError) as info:
        parse_text('{\n\t"version": ' + "9" * 5000 + "\n}")
    assert "bad value" in info.value.reason


def test_invalid_json_with_tabs_names_line_and_column():
    with pytest.raises(LoadError) as info:
        parse_text('{\n\t"runbook": "a",\n\t"tenant": "acme" "globex"\n}')
    assert info.value.reason.startswith("invalid JSON")
    assert info.value.line == 3
    assert "column" in info.value.reason


# --- validation errors point at the line and the field ---------------------------------------

TYPO_RUNBOOK = """\
runbook: typo
tenant: acme
approval: {required_role: dpo}
steps:
  - id: first
    analyser: policy_practices
  - id: second
    analyzer: gdpr_transparency
    input: first
"""


def test_typo_field_reports_its_path_and_line(tmp_path):
    path = write(tmp_path, TYPO_RUNBOOK)
    with pytest.raises(LoadError) as info:
        parse_runbook(path.read_text(), source=str(path))
    error = info.value
    assert error.code == "schema"
    assert error.line == 7  # the step's first line: its kind cannot be told
    assert error.path == "steps[1]"
    assert "steps[1] (line 7)" in error.reason
    assert f"{path}:7" in str(error)


def test_unknown_field_in_a_step_is_reported_as_typo_at_its_own_line(tmp_path):
    text = TYPO_RUNBOOK.replace("    analyzer: gdpr_transparency\n", "    analyser: gdpr_transparency\n")
    text = text.replace("    input: first\n", "    inptu: first\n")
    with pytest.raises(LoadError) as info:
        parse_runbook(text, source="typo.yaml")
    assert info.value.path == "steps[1].inptu"
    assert info.value.line == 9
    assert "unknown field (typo?)" in info.value.reason


def test_guard_report_points_schema_issues_at_path_and_line(catalogue):
    parsed = parse_text(TYPO_RUNBOOK, source="typo.yaml")
    report = validate_data(parsed, GuardContext(catalogue=catalogue))
    assert not report.ok
    assert [(i.code, i.path, i.line) for i in report.issues] == [("schema", "steps[1]", 7)]


def test_validation_errors_without_a_source_have_no_line(catalogue):
    data = yaml.safe_load(TYPO_RUNBOOK)
    report = validate_data(Parsed(data=data), GuardContext(catalogue=catalogue))
    assert [(i.path, i.line) for i in report.issues] == [("steps[1]", None)]


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("a:\n\tb: 1\n", "'\\t'"),
        ('a: "\\q"\n', "'q'"),
        ("a: *nope\n", "'nope'"),
    ],
)
def test_a_yaml_error_names_the_character_or_alias_at_fault(text: str, detail: str) -> None:
    """libyaml's messages leave these out; the common mistake, a tab indent, must be named."""
    with pytest.raises(LoadError) as caught:
        parse_text(text, "x.yaml")
    assert detail in str(caught.value)


@pytest.mark.parametrize("text", ["limit: .nan", "limit: -.inf", "a: [1, .Inf]"])
def test_a_number_that_is_not_finite_is_refused(text):
    """NaN and infinity pass every schema bound and do not survive JSON (they come back null)."""
    with pytest.raises(LoadError) as info:
        parse_text(text)
    assert info.value.code == "not_finite"


def test_data_from_elsewhere_holding_a_nan_is_refused_with_its_path():
    """An API body parsed as JSON (Python's reader takes NaN), or a planner's output."""
    assert plain_data_problem({"steps": [{"config": {"min": float("nan")}}]}) == (
        "steps[0].config.min",
        "is not a finite number (NaN or infinity)",
        "not_finite",
    )
