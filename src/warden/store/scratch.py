"""Throwaway Postgres databases for the tests and benches (``warden.testing`` re-exports them):
here because only ``store/`` speaks SQL. The product never calls this module."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager, suppress

__all__ = ["PG_ADMIN_URL", "pg_unavailable_reason", "refill_database", "scratch_database"]


PG_ADMIN_URL = os.environ.get("WARDEN_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
"""The Postgres server tests and benches create their throwaway ledgers on (trust auth)."""


def pg_unavailable_reason() -> str | None:
    """None when a Postgres answers at :data:`PG_ADMIN_URL`; otherwise why not (a skip reason)."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install -e '.[dev]')"
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3) as con:
            con.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"no Postgres answers at {PG_ADMIN_URL}: {str(exc).strip().splitlines()[0]}"
    return None


@contextmanager
def scratch_database(prefix: str = "warden_test") -> Iterator[str]:
    """A fresh, empty database on the server of :data:`PG_ADMIN_URL` (a random name), dropped
    afterwards, even while connections to it are still open; yields its URL."""
    import psycopg

    name = f"{prefix}_{secrets.token_hex(6)}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with suppress(psycopg.Error), psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def refill_database(url: str, template_url: str) -> None:
    """Replace the database of `url` by a copy of the one of `template_url` (Postgres's CREATE
    DATABASE ... TEMPLATE): what copying a state directory's DuckDB file is for a test that
    prepares a ledger once and hands each test its own copy. Sessions of either are ended."""
    import psycopg

    name, template = url.rpartition("/")[2], template_url.rpartition("/")[2]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(
            """SELECT pg_terminate_backend(pid) FROM pg_stat_activity
               WHERE datname = ANY(%s) AND pid <> pg_backend_pid()""",
            [[name, template]],
        )
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
