"""The live server of tests/server (real uvicorn, DuckDB, SQLite, HTTP) for the review's attacks."""

from tests.server.conftest import fresh_run, live  # noqa: F401  (fixtures re-exported)
