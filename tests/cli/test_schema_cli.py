"""`warden schema NAME` as users run it: every schema is valid JSON Schema, and the bundled
root runbook validates against the published runbook schema.

All commands start at once, in parallel, from one fixture.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

from warden.schemas import SCHEMAS

REPO = Path(__file__).resolve().parents[2]
ROOT_RUNBOOK = REPO / "runbooks" / "privacy-policy-review.yaml"


@pytest.fixture(scope="module")
def runs() -> dict[str, subprocess.CompletedProcess[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARDEN_")}
    commands = {name: ["schema", name] for name in SCHEMAS}
    commands["--list"] = ["schema", "--list"]
    commands["unknown"] = ["schema", "no-such-schema"]
    procs = {
        key: subprocess.Popen(
            [sys.executable, "-m", "warden", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for key, args in commands.items()
    }
    out = {}
    for key, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=120)
        out[key] = subprocess.CompletedProcess(commands[key], proc.returncode, stdout, stderr)
    return out


@pytest.mark.parametrize("name", list(SCHEMAS))
def test_each_schema_prints_a_valid_json_schema(runs, name):
    run = runs[name]
    assert run.returncode == 0, run.stderr
    document = json.loads(run.stdout)
    Draft202012Validator.check_schema(document)
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert document["$id"] == f"warden:{name}"
    model = SCHEMAS[name].__name__
    # A self-referencing model (the runbook) is published as a $ref to its own definition.
    assert document.get("title") == model or document.get("$ref") == f"#/$defs/{model}"


def test_bundled_root_runbook_validates_against_the_published_runbook_schema(runs):
    validator = Draft202012Validator(json.loads(runs["runbook"].stdout))
    runbook = yaml.safe_load(ROOT_RUNBOOK.read_text())
    assert list(validator.iter_errors(runbook)) == []


def test_root_runbook_with_list_inputs_validates_against_the_published_runbook_schema(runs):
    validator = Draft202012Validator(json.loads(runs["runbook"].stdout))
    runbook = yaml.safe_load(ROOT_RUNBOOK.read_text())
    for step in runbook["steps"]:
        if isinstance(step.get("input"), str):
            step["input"] = [step["input"]]
    assert [e.message for e in validator.iter_errors(runbook)] == []


def test_published_runbook_schema_rejects_a_typo_and_a_missing_field(runs):
    validator = Draft202012Validator(json.loads(runs["runbook"].stdout))
    runbook = yaml.safe_load(ROOT_RUNBOOK.read_text())
    runbook["stesp"] = runbook.pop("steps")
    messages = [e.message for e in validator.iter_errors(runbook)]
    assert any("'steps' is a required property" in m for m in messages)
    assert any("stesp" in m for m in messages)


def test_schema_list_names_every_schema(runs):
    run = runs["--list"]
    assert run.returncode == 0
    assert run.stdout.split() == list(SCHEMAS)


def test_unknown_schema_name_is_a_usage_error_listing_the_names(runs):
    run = runs["unknown"]
    assert run.returncode == 2
    assert "no schema named 'no-such-schema'" in run.stderr
    assert "use one of: " + ", ".join(SCHEMAS) in run.stderr
    assert "Traceback" not in run.stderr
    assert run.stdout == ""
