"""Fixtures of tests/investigate; the runs themselves are built by ``_acme_runs.py``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "graph")]

from _acme_runs import Investigated, build  # noqa: E402
from _wardencli import allow_documents_under  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _tmp_document_roots(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The revised notice the runs analyse is written under pytest's temp folder."""
    allow_documents_under(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="session")
def investigated(tmp_path_factory: pytest.TempPathFactory) -> Investigated:
    """Two approved acme run trees in one state directory (see _acme_runs.py)."""
    return build(tmp_path_factory.mktemp("investigate"))
