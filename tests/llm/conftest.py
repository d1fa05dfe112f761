"""Fixtures of tests/llm: the loopback endpoint and the test analysers' folder."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "graph"))  # _wardencli
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _loopback import Endpoint
from _support import install_test_analysers


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    with Endpoint() as server:
        yield server


@pytest.fixture(autouse=True)
def _plugins_and_marker(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The test analysers are installed; wllm_exfil would leave its marker under tmp_path."""
    return install_test_analysers(monkeypatch, tmp_path)
