"""dump_runbook writes the YAML reviewers read, diff and edit: it must load back to the same runbook."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from warden.runbooks import dump_runbook, parse_runbook, read_runbook, runbook_from_data
from warden.runbooks.hashing import sha256_of

ROOT_RUNBOOK = Path(__file__).resolve().parents[2] / "runbooks" / "privacy-policy-review.yaml"

AWKWARD = [
    "plain words",
    "a: colon, # a hash, - a dash and 'quotes' \"both\"",
    "line one\nline two\n\ttabbed",
    "é € 中 😀 and a bell \a and NEL \x85 and LS \u2028",
    "x" * 250,
    "key: " + "word " * 40 + "# and a hash: the emitters fold this differently",
    "  leading and trailing spaces  ",
    "yes",
    "null",
    "1e3",
]


def test_the_shipped_runbook_dumps_and_loads_back_unchanged() -> None:
    runbook = runbook_from_data(read_runbook(ROOT_RUNBOOK).data)
    assert sha256_of(parse_runbook(dump_runbook(runbook))) == sha256_of(runbook)


@pytest.fixture(params=["libyaml", "pure-python"])
def emitter(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both emitters dump_runbook may use: libyaml's, and PyYAML's own where libyaml is absent."""
    if request.param == "pure-python":
        monkeypatch.delattr(yaml, "CSafeDumper", raising=False)
    elif not hasattr(yaml, "CSafeDumper"):
        pytest.skip("PyYAML was built without libyaml")
    return request.param


@pytest.mark.parametrize("text", AWKWARD)
def test_awkward_strings_in_a_runbook_survive_a_dump(text: str, emitter: str) -> None:
    data = runbook_from_data(read_runbook(ROOT_RUNBOOK).data).model_dump(mode="json")
    data["description"] = text
    data["steps"][0]["config"] = {"note": text, "items": [text, 3, None, True]}
    runbook = runbook_from_data(data)
    again = parse_runbook(dump_runbook(runbook))
    assert again.description == text
    assert again.steps[0].config == {"note": text, "items": [text, 3, None, True]}
    assert sha256_of(again) == sha256_of(runbook)
