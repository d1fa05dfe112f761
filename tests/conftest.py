"""Shared fixtures: the bundled example organisation and its root runbook."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from warden.catalogue import Catalogue, default_catalogue
from warden.governance import LoadedPolicy, load_policy

REPO = Path(__file__).resolve().parents[1]
ACME_POLICY = REPO / "fixtures" / "acme" / "policy.yaml"
ROOT_RUNBOOK = REPO / "runbooks" / "privacy-policy-review.yaml"


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
