"""`warden validate` as users run it: a real subprocess, real exit codes, no tracebacks.

Every command this module needs is started at once, in parallel, by one fixture (each costs
about half a second of interpreter start-up); the tests then read their results.
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

from warden.runbooks import parse_runbook, sha256_of
from warden.schemas.report import ISSUE_CODES, ValidationReport

REPO = Path(__file__).resolve().parents[2]
ROOT_RUNBOOK = REPO / "runbooks" / "privacy-policy-review.yaml"
POLICY = REPO / "fixtures" / "acme" / "policy.yaml"


@dataclass
class Run:
    args: list[str]
    code: int
    stdout: str
    stderr: str

    def report(self) -> ValidationReport:
        return ValidationReport.model_validate_json(self.stdout)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARDEN_")}
    env.update(COLUMNS="300", NO_COLOR="1", PYTHONIOENCODING="utf-8", **extra)
    return env


def run_all(commands: dict[str, tuple[list[str], dict[str, str]]], cwd: Path) -> dict[str, Run]:
    """Start every `python -m warden ...` at once and wait for all of them."""
    procs = {
        name: (
            args,
            subprocess.Popen(
                [sys.executable, "-m", "warden", *args],
                cwd=cwd,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            ),
        )
        for name, (args, env) in commands.items()
    }
    out = {}
    for name, (args, proc) in procs.items():
        stdout, stderr = proc.communicate(timeout=120)
        out[name] = Run(args, proc.returncode, stdout, stderr)
    return out


BAD_RUNBOOK = {
    "runbook": "bad",
    "tenant": "acme",
    "inputs": {"document": "document"},
    "steps": [
        {"id": "a", "analyser": "policy_practices", "input": ["b"]},
        {"id": "b", "analyser": "gdpr_transparency", "input": ["a"]},
        {"id": "c", "analyser": "no_such_analyser", "input": "document"},
    ],
}
BAD_CODES = {"missing_approval", "cycle", "unknown_analyser"}

BILLION_LAUGHS = "".join(
    f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9 if prev else ['"lol"'] * 9) + "]\n"
    for prev, name in zip([None, *"abcdefgh"], "abcdefghi", strict=True)
)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Run]:
    tmp = tmp_path_factory.mktemp("validate-cli")
    root = yaml.safe_load(ROOT_RUNBOOK.read_text())

    bad = tmp / "bad.yaml"
    bad.write_text(yaml.safe_dump(BAD_RUNBOOK, sort_keys=False))
    malformed = tmp / "malformed.yaml"
    malformed.write_text("runbook: x\ntenant: acme\nsteps:\n  - id: a\n    analyser: [oops\n")
    binary = tmp / "binary.yaml"
    binary.write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 8)
    huge = tmp / "huge.yaml"
    with huge.open("wb") as fh:  # sparse: 50 MB on paper, nothing on disk
        fh.write(b"runbook: huge\n")
        fh.seek(50 * 2**20)
        fh.write(b"\n")
    bomb = tmp / "bomb.yaml"
    bomb.write_text(BILLION_LAUGHS)
    no_approval = copy.deepcopy(root)
    del no_approval["approval"]
    no_approval_file = tmp / "no-approval.json"
    no_approval_file.write_text(json.dumps(no_approval, indent="\t"))

    rb, pol = str(ROOT_RUNBOOK), str(POLICY)
    plain = _env()
    commands = {
        "ok": (["validate", rb, "--policy", pol, "--tenant", "acme"], plain),
        "ok_json": (["validate", rb, "--policy", pol, "--tenant", "acme", "--json"], plain),
        "ok_env_policy": (["validate", rb, "--json"], _env(WARDEN_POLICY=pol)),
        "no_policy": (["validate", rb], plain),
        "bad": (["validate", str(bad), "--policy", pol], plain),
        "bad_json": (["validate", str(bad), "--policy", pol, "--json"], plain),
        "no_approval_json": (["validate", str(no_approval_file), "--json"], plain),
        "globex": (["validate", rb, "--policy", pol, "--tenant", "globex", "--json"], plain),
        "unknown_tenant": (["validate", rb, "--policy", pol, "--tenant", "nobody"], plain),
        "missing_runbook": (["validate", str(tmp / "nope.yaml"), "--policy", pol], plain),
        "missing_policy": (["validate", rb, "--policy", str(tmp / "nope-policy.yaml")], plain),
        "tenant_without_policy": (["validate", rb, "--tenant", "acme"], plain),
        "malformed": (["validate", str(malformed), "--policy", pol], plain),
        "binary": (["validate", str(binary), "--policy", pol], plain),
        "huge": (["validate", str(huge), "--policy", pol], plain),
        "bomb_json": (["validate", str(bomb), "--policy", pol, "--json"], plain),
    }
    return run_all(commands, cwd=tmp)


def no_traceback(run: Run) -> None:
    assert "Traceback" not in run.stderr, run.stderr
    assert "Traceback" not in run.stdout
    assert "internal error" not in run.stderr, run.stderr


# --- success ---------------------------------------------------------------------------------


def test_bundled_runbook_passes_for_its_tenant_with_exit_0(runs):
    run = runs["ok"]
    assert run.code == 0, run.stdout + run.stderr
    assert "OK: may be submitted for approval" in run.stdout
    assert "passed" in run.stdout and "failed" not in run.stdout
    no_traceback(run)


def test_json_report_parses_as_a_validation_report_with_the_runbooks_hash(runs):
    run = runs["ok_json"]
    assert run.code == 0
    report = run.report()
    assert report.ok is True
    assert report.tenant == "acme" and report.runbook == "privacy-policy-review"
    assert report.runbook_sha256 == sha256_of(parse_runbook(ROOT_RUNBOOK.read_text()))
    assert report.policy_sha256
    assert {c.status for c in report.checks} == {"passed"}


def test_policy_from_the_environment_runs_the_governance_checks(runs):
    run = runs["ok_env_policy"]
    assert run.code == 0, run.stderr
    report = run.report()
    assert report.policy_sha256 == runs["ok_json"].report().policy_sha256
    assert "skipped" not in {c.status for c in report.checks}


def test_without_a_policy_governance_checks_are_skipped_and_said_so(runs):
    run = runs["no_policy"]
    assert run.code == 0, run.stdout + run.stderr
    assert "no policy given: governance checks skipped" in run.stdout
    assert "skipped" in run.stdout


# --- a runbook the guard rejects -------------------------------------------------------------


def test_bad_runbook_exits_1_and_lists_its_issue_codes(runs):
    run = runs["bad"]
    assert run.code == 1
    for code in BAD_CODES:
        assert code in run.stdout
    assert "NOT OK" in run.stdout
    no_traceback(run)


def test_bad_runbook_json_report_names_each_issue_with_a_known_code_and_line(runs):
    run = runs["bad_json"]
    assert run.code == 1
    report = run.report()
    assert report.ok is False
    assert {i.code for i in report.issues} >= BAD_CODES
    assert all(i.code in ISSUE_CODES for i in report.issues)
    assert all(i.line is not None for i in report.issues if i.path)


def test_tab_indented_json_runbook_is_validated_and_its_issue_located(runs):
    run = runs["no_approval_json"]
    assert run.code == 1
    [issue] = run.report().issues
    assert (issue.code, issue.path) == ("missing_approval", "approval")


def test_acme_runbook_submitted_for_globex_reports_cross_tenant(runs):
    run = runs["globex"]
    assert run.code == 1
    report = run.report()
    assert report.tenant == "globex"
    cross = [i for i in report.issues if i.code == "cross_tenant"]
    assert [i.path for i in cross] == ["tenant"]
    assert "belongs to tenant 'acme'" in cross[0].message


# --- usage errors: exit 2, a message, no traceback -------------------------------------------


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("unknown_tenant", "unknown tenant 'nobody'"),
        ("missing_runbook", "file not found"),
        ("tenant_without_policy", "--tenant needs a policy"),
    ],
)
def test_usage_errors_exit_2_with_a_message(runs, name, message):
    run = runs[name]
    assert run.code == 2, run.stdout + run.stderr
    assert message in run.stderr
    assert "fix:" in run.stderr
    no_traceback(run)


def test_unknown_tenant_lists_the_tenants_that_exist(runs):
    assert "use one of: acme, globex" in runs["unknown_tenant"].stderr


def test_missing_policy_file_is_a_usage_error_with_a_message_not_a_traceback(runs):
    run = runs["missing_policy"]
    assert run.code == 2
    assert "nope-policy.yaml" in run.stderr and "file not found" in run.stderr
    no_traceback(run)


# --- hostile runbook files: exit 1, a clear message ------------------------------------------


def test_malformed_yaml_exits_1_naming_the_line(runs):
    run = runs["malformed"]
    assert run.code == 1
    assert "load_error" in run.stdout and "invalid YAML" in run.stdout
    assert "line 5" in run.stdout or "line 6" in run.stdout
    no_traceback(run)


def test_binary_file_exits_1_saying_it_is_binary(runs):
    run = runs["binary"]
    assert run.code == 1
    assert "binary file, not YAML or JSON" in run.stdout
    no_traceback(run)


def test_huge_file_exits_1_saying_it_is_over_the_limit(runs):
    run = runs["huge"]
    assert run.code == 1
    assert "over the 2,097,152-byte limit" in run.stdout
    no_traceback(run)


def test_alias_bomb_exits_1_without_expanding(runs):
    run = runs["bomb_json"]
    assert run.code == 1
    [issue] = run.report().issues
    assert issue.code == "load_error"
    assert "aliases bomb" in issue.message
    no_traceback(run)
