"""Fixtures of tests/reliability: the tests/graph CLI helpers, and a figures report.

Every test here records what it tried and what held (`figures.add(...)`); the figures are
printed in the terminal summary of any pytest run that collected them, and written as JSON
to $WARDEN_RELIABILITY_FIGURES when that is set (docs/RELIABILITY.md quotes them).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "graph"))
sys.path.insert(0, str(HERE))

import _wardencli  # noqa: E402
from _wardencli import ACME_POLICY, Warden, write_yaml  # noqa: E402

_FIGURES: dict[str, dict[str, Any]] = {}


class Figures:
    """Figures of one test, keyed by the test's name."""

    def __init__(self, name: str) -> None:
        self._row = _FIGURES.setdefault(name, {})

    def add(self, **values: Any) -> None:
        self._row.update(values)


@pytest.fixture(scope="session", autouse=True)
def _tmp_document_roots(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Documents the tests write under pytest's temp folder lie under acme's document roots."""
    root = str(tmp_path_factory.getbasetemp().resolve())
    if root not in _wardencli.TMP_DOCUMENT_ROOTS:
        _wardencli.TMP_DOCUMENT_ROOTS.append(root)


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Figures:
    return Figures(request.node.name)


@pytest.fixture
def make_warden(tmp_path: Path):
    """Warden(home, policy) factories, each with its own state directory under tmp_path."""
    counter = iter(range(1000))

    def make(policy: dict[str, Any] | Path | None = None, **extra_env: str) -> Warden:
        n = next(counter)
        if isinstance(policy, dict):
            policy = write_yaml(tmp_path / f"policy-{n}.yaml", policy)
        return Warden(home=tmp_path / f"home-{n}", policy=policy or ACME_POLICY, extra_env=dict(extra_env))

    return make


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _FIGURES:
        return
    terminalreporter.section("reliability figures")
    for name, row in _FIGURES.items():
        terminalreporter.write_line(f"{name}: " + ", ".join(f"{k}={v}" for k, v in row.items()))
    target = os.environ.get("WARDEN_RELIABILITY_FIGURES")
    if target:
        Path(target).write_text(json.dumps(_FIGURES, indent=2, default=str) + "\n")
