"""The live server of tests/server (uvicorn, DuckDB, SQLite, HTTP) for the attacks across entry points."""

from tests.server.conftest import fresh_run, live  # noqa: F401  (fixtures re-exported)
