"""Hostile non-document inputs through the real CLI: runbooks, policies, config and passages
files whose text is rich markup, huge, or not what a JSON parser expects. Each gets a coded
message and a non-zero exit, or is printed as the text it is; never a traceback.

Every command is started at once by one fixture (each costs about half a second of start-up),
each with its own WARDEN_HOME under tmp_path.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ROOT_RUNBOOK = REPO / "runbooks" / "privacy-policy-review.yaml"
POLICY = REPO / "fixtures" / "acme" / "policy.yaml"
MARKUP = "[/]"
"""Rich's closing tag: printed through markup, it made rich raise MarkupError."""


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WARDEN_", "OPENAI_"))}
    env.update(COLUMNS="300", NO_COLOR="1", PYTHONIOENCODING="utf-8", WARDEN_HOME=str(home))
    env.update(extra)
    return env


def _row(**fields: object) -> str:
    return json.dumps({"id": "p1", "text": "We collect your email address.", "context": [], **fields})


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Run]:
    tmp = tmp_path_factory.mktemp("hostile")
    root = yaml.safe_load(ROOT_RUNBOOK.read_text())

    markup = copy.deepcopy(root)
    markup["description"] = f"{MARKUP}[bold]"
    markup["steps"][0]["input"] = [MARKUP]
    (tmp / "markup.yaml").write_text(yaml.safe_dump(markup, sort_keys=False))
    (tmp / "dup-policy.yaml").write_text(f'version: 1\ntenants: {{}}\n"{MARKUP}": 1\n"{MARKUP}": 2\n')
    nul_policy = yaml.safe_load(POLICY.read_text())
    nul_policy["tenants"]["acme"]["allowed_roots"] = ["systems\x00/etc"]  # a "\0" escape in YAML
    (tmp / "nul-policy.yaml").write_text(yaml.safe_dump(nul_policy, sort_keys=False))

    good = _row()
    passages = {
        "bigint": [good, _row()[:-1] + ', "n": ' + "9" * 5000 + "}"],  # ValueError, not JSONDecodeError
        "deep": [good, '{"id": "p2", "text": "x", "n": ' + "[" * 100_000 + "]" * 100_000 + "}"],
        "surrogate": [good, '{"id": "p2", "text": "\\ud800 x", "context": []}'],
        "long_row": [good, _row(text="We collect your email. " * 150_000)],  # 3.4 MB on one line
    }
    for name, lines in passages.items():
        (tmp / f"{name}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp / "bom.jsonl").write_bytes(b"\xef\xbb\xbf" + good.encode() + b"\n")

    huge = copy.deepcopy(root)
    huge["limits"]["max_depth"] = 10**30  # the schema refuses it, but the run's checkpoint came first
    (tmp / "huge-int.yaml").write_text(yaml.safe_dump(huge, sort_keys=False))
    (tmp / "bad-port.yaml").write_text("llm:\n  model: m\n  base_url: http://127.0.0.1:99999/v1\n")
    (tmp / "a-file").write_text("not a directory\n")

    tmp_roots = yaml.safe_load(POLICY.read_text())
    acme = tmp_roots["tenants"]["acme"]
    acme["allowed_roots"] = [str(tmp)]
    acme["document_roots"] = [str(tmp)]
    acme["systems"] = [
        {**s, "location": str(REPO / "fixtures" / "acme" / s["location"])} for s in acme["systems"]
    ]
    (tmp / "tmp-policy.yaml").write_text(yaml.safe_dump(tmp_roots, sort_keys=False))
    (tmp / "empty.md").write_text("   \n")

    rb, pol = str(ROOT_RUNBOOK), str(POLICY)
    notice = str(REPO / "fixtures" / "acme" / "notice.md")
    analyse = ["analyse", notice, "--tenant", "acme", "--as", "ana@acme", "--policy", pol, "--json"]
    commands: dict[str, tuple[list[str], dict[str, str]]] = {
        "validate_markup": (["validate", str(tmp / "markup.yaml"), "--policy", pol], {}),
        "policy_markup": (["validate", rb, "--policy", str(tmp / "dup-policy.yaml")], {}),
        "policy_nul_root": (["validate", rb, "--policy", str(tmp / "nul-policy.yaml"), "--json"], {}),
        "doctor_markup": (["doctor"], {"WARDEN_LLM_MODEL": MARKUP}),
        "doctor_bad_url": (["doctor"], {"WARDEN_LLM_MODEL": "m", "OPENAI_BASE_URL": "http://[::1/v1"}),
        "doctor_password": (
            ["doctor", "--json"],
            {"WARDEN_LLM_MODEL": "m", "OPENAI_BASE_URL": "http://me:s3cret@127.0.0.1:9/v1"},
        ),
        "analyse_bad_port": (analyse, {"WARDEN_CONFIG": str(tmp / "bad-port.yaml")}),
        "analyse_home_is_a_file": (analyse, {"WARDEN_HOME": str(tmp / "a-file")}),
        "analyse_huge_int": ([*analyse, "--runbook", str(tmp / "huge-int.yaml")], {}),
        "analyse_empty_document": (
            ["analyse", str(tmp / "empty.md"), "--tenant", "acme", "--as", "ana@acme"],
            {"WARDEN_POLICY": str(tmp / "tmp-policy.yaml")},
        ),
        "analyse_as_markup": (
            ["analyse", str(REPO / "fixtures" / "acme" / "notice.md"), "--tenant", "acme", "--as", MARKUP],
            {"WARDEN_POLICY": pol},
        ),
        **{
            f"extract_{name}": (["extract", "--passages", str(tmp / f"{name}.jsonl")], {})
            for name in [*passages, "bom"]
        },
        **{
            f"runs_since_{name}": (["runs", "--since", since, "--as", "dora@acme", "--policy", pol], {})
            for name, since in RUNS_SINCE.items()
        },
    }
    procs = {}
    for name, (args, extra) in commands.items():
        home = tmp / f"home-{name}"
        home.mkdir()
        procs[name] = subprocess.Popen(
            [sys.executable, "-m", "warden", *args],
            cwd=home,
            env=_env(home, **extra),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    out = {}
    for name, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=120)
        out[name] = Run(proc.returncode, stdout, stderr)
    return out


RUNS_SINCE = {
    "huge_age": "99999999d",  # now minus the age is before year 1
    "huge_minutes": "9" * 23 + "m",  # too large for a timedelta
    "before_year_one": "0001-01-01T00:00:00+01:00",  # 31 Dec of year 0 in UTC
    "after_year_9999": "9999-12-31T23:59:59-01:00",
    "not_a_date": "yesterday",
}


@pytest.mark.parametrize("name", list(RUNS_SINCE))
def test_runs_since_off_the_calendar_is_a_usage_error(runs, name):
    run = runs[f"runs_since_{name}"]
    no_traceback(run)
    assert run.code == 2, run.stderr
    assert "--since" in run.stderr and "fix:" in run.stderr


def no_traceback(run: Run) -> None:
    assert "Traceback" not in run.stderr + run.stdout, run.stderr
    assert "internal error" not in run.stderr, run.stderr


# --- rich markup in what hostile input makes Warden print -------------------------------------


def test_runbook_values_that_look_like_markup_are_printed_as_text_in_the_guard_table(runs):
    run = runs["validate_markup"]
    no_traceback(run)
    assert run.code == 1
    assert f"consumes '{MARKUP}'" in run.stdout
    assert "NOT OK" in run.stdout


def test_policy_error_quoting_markup_is_a_policy_error_not_a_crash(runs):
    run = runs["policy_markup"]
    no_traceback(run)
    assert run.code == 1
    assert "policy_error" in run.stderr and f"duplicate key '{MARKUP}'" in run.stderr


def test_policy_path_with_a_nul_byte_is_a_policy_error_at_its_line(runs):
    run = runs["policy_nul_root"]
    no_traceback(run)
    assert run.code == 1
    assert "error (schema)" in run.stderr
    assert "tenants.acme.allowed_roots" in run.stderr and "NUL byte" in run.stderr


def test_doctor_prints_a_model_name_that_looks_like_markup(runs):
    run = runs["doctor_markup"]
    no_traceback(run)
    assert f"model:    {MARKUP}" in run.stdout


def test_analyse_as_a_user_that_looks_like_markup_is_a_usage_error(runs):
    run = runs["analyse_as_markup"]
    no_traceback(run)
    assert run.code == 2
    assert f"'{MARKUP}' is not a user" in run.stderr


def test_a_failed_analysis_says_why_once(runs):
    run = runs["analyse_empty_document"]
    no_traceback(run)
    assert run.code == 1, run.stderr
    assert run.stdout.count("reason:") == 1, run.stdout
    assert "document_empty" in run.stdout


def test_analyse_refuses_a_runbook_number_past_64_bits_before_any_run_starts(runs):
    run = runs["analyse_huge_int"]
    no_traceback(run)
    assert run.code == 1, run.stderr
    assert "too_large" in run.stderr and "huge-int.yaml:" in run.stderr and "64 bits" in run.stderr
    assert run.stdout == ""  # no run was created, so none is left 'running'


# --- configuration and environment ----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ("doctor_bad_url", "invalid LLM setting 'base_url'"),
        ("analyse_bad_port", "Port out of range"),
        ("analyse_home_is_a_file", "cannot use"),
    ],
)
def test_a_malformed_setting_is_a_usage_error_naming_it(runs, name, needle):
    run = runs[name]
    no_traceback(run)
    assert run.code == 2, run.stderr
    assert needle in run.stderr and "fix:" in run.stderr


def test_doctor_redacts_a_password_in_the_base_url_like_the_key(runs):
    run = runs["doctor_password"]
    no_traceback(run)
    assert "s3cret" not in run.stdout + run.stderr
    assert json.loads(run.stdout)["base_url"] == "http://me:***@127.0.0.1:9/v1"


# --- extract --passages: rows the JSON parser refuses in other ways --------------------------


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ("bigint", "not valid JSON"),
        ("deep", "not valid JSON (nested too deeply)"),
        ("surrogate", "lone surrogate"),
        ("long_row", "row is longer than 1,048,576 characters"),
    ],
)
def test_a_row_json_cannot_hold_is_a_bad_row_on_its_line(runs, name, needle):
    run = runs[f"extract_{name}"]
    no_traceback(run)
    assert run.code == 2, run.stderr
    assert "bad_row" in run.stderr and "line 2" in run.stderr and needle in run.stderr
    assert [json.loads(line)["id"] for line in run.stdout.splitlines()] == ["p1"]


def test_bad_row_fix_hint_shows_the_row_shape_in_full(runs):
    assert '"context": [str, ...]}' in runs["extract_bigint"].stderr


def test_passages_file_with_a_utf8_bom_is_read(runs):
    run = runs["extract_bom"]
    assert run.code == 0, run.stderr
    assert [json.loads(line)["id"] for line in run.stdout.splitlines()] == ["p1"]


# --- approvals: options the decision model refuses --------------------------------------------


@pytest.fixture(scope="module")
def decisions(tmp_path_factory) -> tuple[dict[str, Run], str]:
    """One run waiting for approval, then decisions with options ApprovalDecision refuses, then
    the run's status from `warden runs`."""
    home = tmp_path_factory.mktemp("approvals")
    env = _env(home, WARDEN_POLICY=str(POLICY))

    def warden(*args: str) -> Run:
        done = subprocess.run(
            [sys.executable, "-m", "warden", *args],
            cwd=home,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        return Run(done.returncode, done.stdout, done.stderr)

    started = warden(
        "analyse", str(REPO / "fixtures" / "acme" / "notice.md"), "-t", "acme", "--as", "ana@acme", "--json"
    )
    run_id = json.loads(started.stdout.splitlines()[0])["run_id"]
    dora = ("--as", "dora@acme")
    out = {
        "long_comment": warden("approve", run_id, *dora, "--role", "dpo", "--comment", "x" * 4001),
        "blank_reason": warden("reject", run_id, *dora, "--role", "dpo", "--reason", "   "),
        "empty_role": warden("approve", run_id, *dora, "--role", ""),
    }
    [row] = json.loads(warden("runs", "--json", *dora).stdout)
    if Path("/dev/full").exists():  # writes fail with ENOSPC
        out["report_full_disk"] = warden("report", run_id, "--out", "/dev/full", *dora)
        out["audit_full_disk"] = warden("audit", run_id, "--out", "/dev/full", *dora)
    return out, row["status"]


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ("long_comment", "--comment / --reason: String should have at most 4000 characters"),
        ("blank_reason", "--reason: a rejection needs a comment giving the reason"),
        ("empty_role", "--role: String should have at least 1 character"),
    ],
)
def test_a_decision_with_a_bad_option_is_a_usage_error_naming_the_option(decisions, name, needle):
    run = decisions[0][name]
    no_traceback(run)
    assert run.code == 2, run.stderr
    assert needle in run.stderr


def test_a_refused_decision_leaves_the_run_waiting(decisions):
    assert decisions[1] == "waiting_approval"


@pytest.mark.parametrize("name", ["report_full_disk", "audit_full_disk"])
def test_a_report_that_cannot_be_written_is_an_error_naming_the_file(decisions, name):
    if name not in decisions[0]:
        pytest.skip("no /dev/full here")
    run = decisions[0][name]
    no_traceback(run)
    assert run.code == 1, run.stderr
    assert "write_failed" in run.stderr and "cannot write /dev/full" in run.stderr
