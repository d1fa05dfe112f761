"""A test run on both ledgers: the DuckDB file, then a fresh Postgres database (skipped, saying
why, when no Postgres answers)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from warden.testing import pg_unavailable_reason, scratch_database


def either_ledger(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, database: str
) -> Iterator[str]:
    """For a fixture with ``params=["duckdb", "postgres"]``: the ledger the services the test
    makes will use, by $WARDEN_LEDGER_URL; `database` names the scratch Postgres database."""
    if request.param == "duckdb":
        monkeypatch.delenv("WARDEN_LEDGER_URL", raising=False)
        yield "duckdb"
        return
    for _ in shared_postgres(monkeypatch, database):
        yield "postgres"


def shared_postgres(monkeypatch: pytest.MonkeyPatch, database: str) -> Iterator[str]:
    """A fresh Postgres database (its URL) that the services a test makes share, as several
    hosts do; skipped, saying why, when no Postgres answers."""
    reason = pg_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    with scratch_database(database) as url:
        monkeypatch.setenv("WARDEN_LEDGER_URL", url)
        yield url
