"""Fixtures of tests/graph; the helpers themselves live in ``_wardencli.py``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _wardencli
from _wardencli import ACME_POLICY, Warden, write_yaml


@pytest.fixture(scope="session", autouse=True)
def _tmp_document_roots(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Documents the tests write under pytest's temp folder lie under acme's document roots."""
    _wardencli.allow_documents_under(tmp_path_factory.getbasetemp())


@pytest.fixture
def make_warden(tmp_path: Path):
    """Warden(home, policy) factories, each with its own state directory under tmp_path."""
    counter = iter(range(1000))

    def make(policy: dict[str, Any] | Path | None = None) -> Warden:
        n = next(counter)
        if isinstance(policy, dict):
            policy = write_yaml(tmp_path / f"policy-{n}.yaml", policy)
        return Warden(home=tmp_path / f"home-{n}", policy=policy or ACME_POLICY)

    return make
