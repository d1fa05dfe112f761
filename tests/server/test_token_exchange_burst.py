"""The API's token exchange (`POST /api/tokens`, throttled like a sign-in) under a burst of wrong
passwords sent at once, over real HTTP: to one server on the DuckDB ledger, and spread over two
servers (two hosts, state directories of their own) sharing one Postgres ledger. At most five
are checked (401); the rest, and the right password after them, get 429 `sign_in_throttled`.
The Postgres case is skipped, saying why, when no Postgres answers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from tests.server.conftest import PASSWORD, POLICY, serving

from warden.server import create_app
from warden.service.accounts import THROTTLE_FAILURES
from warden.testing import pg_unavailable_reason, scratch_database

GUESSES = 12


@pytest.fixture(params=["duckdb", "postgres"])
def servers(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[list[str]]:
    """The base URLs of the servers the burst is spread over."""
    with ExitStack() as stack:
        if request.param == "duckdb":
            monkeypatch.delenv("WARDEN_LEDGER_URL", raising=False)
            count = 1
        else:
            reason = pg_unavailable_reason()
            if reason is not None:
                pytest.skip(reason)
            monkeypatch.setenv("WARDEN_LEDGER_URL", stack.enter_context(scratch_database("warden_tokens")))
            count = 2
        apps = [create_app(tmp_path / f"host{n}", policy=POLICY, workers=1) for n in range(count)]
        apps[0].state.service.accounts.add_user("ana@acme", "acme", PASSWORD)
        yield [f"http://127.0.0.1:{stack.enter_context(serving(app))}" for app in apps]


def test_a_burst_of_wrong_passwords_at_the_token_exchange_checks_at_most_five(servers: list[str]) -> None:
    start = threading.Barrier(GUESSES)

    def exchange(n: int) -> int:
        with httpx.Client(base_url=servers[n % len(servers)], timeout=120) as c:
            start.wait()
            return c.post("/api/tokens", json={"user": "ana@acme", "password": f"guess {n}"}).status_code

    with ThreadPoolExecutor(GUESSES) as pool:
        answers = list(pool.map(exchange, range(GUESSES)))
    assert answers.count(401) == THROTTLE_FAILURES, answers
    assert answers.count(429) == GUESSES - THROTTLE_FAILURES, answers
    for url in servers:
        with httpx.Client(base_url=url, timeout=60) as c:
            right = c.post("/api/tokens", json={"user": "ana@acme", "password": PASSWORD})
            assert right.status_code == 429 and right.json()["error"]["code"] == "sign_in_throttled"
