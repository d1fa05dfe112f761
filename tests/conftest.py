"""Shared fixtures: the bundled example organisation and its root runbook."""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from warden.catalogue import Catalogue, default_catalogue
from warden.governance import LoadedPolicy, load_policy
from warden.testing import pg_unavailable_reason, scratch_database

REPO = Path(__file__).resolve().parents[1]
ACME_POLICY = REPO / "fixtures" / "acme" / "policy.yaml"
ROOT_RUNBOOK = REPO / "runbooks" / "privacy-policy-review.yaml"


LEDGER = os.environ.get("WARDEN_TEST_LEDGER", "duckdb")
"""`WARDEN_TEST_LEDGER=postgres` runs the tests on the Postgres ledger: every test gets a fresh
database (WARDEN_LEDGER_URL, inherited by the subprocesses it starts), dropped after it."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if LEDGER != "postgres":
        return
    reason = pg_unavailable_reason()
    if reason is not None:  # a machine without Postgres (the README's fresh machine): say so, once per test
        for item in items:
            item.add_marker(pytest.mark.skip(reason=f"WARDEN_TEST_LEDGER=postgres, but {reason}"))
        return
    skip = pytest.mark.skip(
        reason="the DuckDB file itself, or two state directories as two ledgers; WARDEN_TEST_LEDGER=postgres"
    )
    for item in items:
        if item.get_closest_marker("duckdb_only"):
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _ledger(monkeypatch: pytest.MonkeyPatch) -> Iterator[str | None]:
    if LEDGER != "postgres":
        monkeypatch.delenv("WARDEN_LEDGER_URL", raising=False)
        yield None
        return
    reason = pg_unavailable_reason()
    if reason is not None:
        pytest.fail(f"WARDEN_TEST_LEDGER=postgres, but {reason}")
    with scratch_database() as url:
        monkeypatch.setenv("WARDEN_LEDGER_URL", url)
        yield url


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def acme_policy() -> LoadedPolicy:
    return load_policy(ACME_POLICY)


@pytest.fixture(scope="session")
def catalogue() -> Catalogue:
    return default_catalogue()


@pytest.fixture(scope="session")
def _root_runbook_data() -> dict[str, Any]:
    return yaml.safe_load(ROOT_RUNBOOK.read_text())


@pytest.fixture
def root_runbook_data(_root_runbook_data: dict[str, Any]) -> dict[str, Any]:
    """A fresh, mutable copy of the bundled root runbook as plain data."""
    return copy.deepcopy(_root_runbook_data)
