"""A request's runbook file is parsed once per text (`starting.runbook_data`): each request
still gets the data `read_runbook` would give, its own copy, and an edited file's new data."""

from __future__ import annotations

from pathlib import Path

import pytest

from warden.errors import LoadError
from warden.runbooks.load import read_runbook
from warden.service.starting import DEFAULT_RUNBOOK, builtin_runbook, runbook_data


def test_the_data_is_read_runbooks_and_each_caller_gets_its_own_copy() -> None:
    path = builtin_runbook(DEFAULT_RUNBOOK)
    first = runbook_data(path)
    assert first == read_runbook(path).data
    first["steps"].clear()  # a caller changing its copy changes nobody else's
    assert runbook_data(path) == read_runbook(path).data


def test_an_edited_file_is_parsed_again_and_a_broken_one_refused_each_time(tmp_path: Path) -> None:
    path = tmp_path / "book.yaml"
    path.write_text("runbook: one\nsteps: []\n")
    assert runbook_data(path) == {"runbook": "one", "steps": []}
    path.write_text("runbook: two\nsteps: []\n")
    assert runbook_data(path) == {"runbook": "two", "steps": []}
    path.write_text("runbook: [unclosed\n")
    for _ in range(2):
        with pytest.raises(LoadError):
            runbook_data(path)
