"""Schema 7: an OIDC session records the provider (its issuer) that vouched for it, so a policy
naming another provider ends it (service/accounts.py). A ledger of schema 6 gains the column on
its first read-write open, on DuckDB and on Postgres; its older sessions have no issuer."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from warden.store import Store
from warden.store import accounts as rows
from warden.store._util import now
from warden.store.schema import SCHEMA_VERSION
from warden.testing import pg_unavailable_reason, scratch_database


@pytest.fixture(params=["duckdb", "postgres"])
def ledger_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """None: a DuckDB file; else a fresh Postgres database's URL (skipped when none answers)."""
    if request.param == "duckdb":
        yield None
        return
    reason = pg_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    with scratch_database("session_issuer") as url:
        yield url


def _columns(store: Store) -> set[str]:
    found = store.query("SELECT column_name FROM information_schema.columns WHERE table_name = 'sessions'")
    return {str(r["column_name"]) for r in found}


def test_a_schema_6_ledger_gains_the_session_issuer(tmp_path: Path, ledger_url: str | None) -> None:
    store = Store(tmp_path / "warden.duckdb", url=ledger_url, lock_timeout_s=10)
    expires = now() + timedelta(hours=1)
    with store.connect() as con:  # back to schema 6: no issuer column, a session from then
        con.execute("ALTER TABLE sessions DROP COLUMN issuer")
        con.execute(
            """INSERT INTO sessions (session_sha256, "user", csrf, auth, created_at, expires_at)
               VALUES ('old', 'dora@acme', 'c', 'oidc', ?, ?)""",
            [now(), expires],
        )
        con.execute("UPDATE meta SET value = '6' WHERE key = 'schema_version'")
    assert "issuer" not in _columns(store)
    upgraded = Store(tmp_path / "warden.duckdb", url=ledger_url, lock_timeout_s=10)
    with upgraded.connect() as con:
        rows.start_session(con, "new", "dora@acme", "c", "oidc", expires, issuer="https://idp.example")
    with upgraded.connect(read_only=True) as con:
        old, new = rows.get_session(con, "old"), rows.get_session(con, "new")
    version = upgraded.query("SELECT value FROM meta WHERE key = 'schema_version'")
    assert version == [{"value": str(SCHEMA_VERSION)}] and SCHEMA_VERSION == 7
    assert old is not None and old["issuer"] is None  # an older OIDC session: ended when used
    assert new is not None and new["issuer"] == "https://idp.example"
    again = Store(tmp_path / "warden.duckdb", url=ledger_url, lock_timeout_s=10)  # idempotent
    with again.connect() as con:
        con.execute("SELECT 1")
    assert "issuer" in _columns(again)
