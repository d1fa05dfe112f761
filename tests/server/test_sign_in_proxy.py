"""The sign-in failure limit behind a reverse proxy and against address rotation, over real HTTP
to a real `warden serve` subprocess started with `--trusted-proxy 127.0.0.2`.

Loopback is a whole /8 on Linux, so the test plays each part from its own source address: the
reverse proxy connects from 127.0.0.2 and says whom it forwards for in X-Forwarded-For; a
client reaching the server directly connects from 127.0.0.3 and forges that header. The
server must count the proxy's clients apart (else anyone could lock a user out for everybody
behind the proxy), and must count the direct client by its own address whatever it claims."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from tests.server.conftest import PASSWORD, POLICY, USERS, free_port

from warden.service import Service
from warden.service.accounts import THROTTLE_FAILURES, USER_CEILING

PROXY = "127.0.0.2"
DIRECT = "127.0.0.3"


@dataclass
class Served:
    url: str
    home: Path

    def client(self, source: str) -> httpx.Client:
        """A client connecting from `source` (a loopback address)."""
        transport = httpx.HTTPTransport(local_address=source)
        return httpx.Client(base_url=self.url, transport=transport, timeout=60)

    def throttled_clients(self, user: str) -> list[str]:
        """The addresses `sign_in_throttled` was audited for, for `user`."""
        service = Service(self.home, policy=POLICY)
        try:
            found = service.store.query(
                "SELECT payload_json FROM audit_events WHERE event = 'sign_in_throttled' ORDER BY seq"
            )
        finally:
            service.store.close()
        return [r["payload_json"] for r in found if f'"user": "{user}"' in r["payload_json"]]


def _env(home: Path, extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARDEN_") or k == "WARDEN_LEDGER_URL"}
    env.update(WARDEN_HOME=str(home), NO_COLOR="1", COLUMNS="200", **extra)
    return env


def _home(path: Path) -> Path:
    """A state directory with an account for every user of the test policy."""
    service = Service(path, policy=POLICY)
    for user, tenant in USERS.items():
        service.accounts.add_user(user, tenant, PASSWORD)
    service.store.close()
    return path


@contextmanager
def _serve(home: Path, args: list[str], env: dict[str, str] | None = None) -> Iterator[Served]:
    """`warden serve ARGS` on a free loopback port until the block ends."""
    port = free_port()
    log = home.parent / f"serve-{port}.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "warden", "serve", "--port", str(port), "--policy", str(POLICY), *args],
        env=_env(home, env or {}),
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)
        yield Served(url, home)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One server trusting the proxy at 127.0.0.2; each test signs in as a user of its own."""
    home = _home(tmp_path_factory.mktemp("proxied") / "home")
    with _serve(home, ["--trusted-proxy", PROXY]) as server:
        yield server


def _token(c: httpx.Client, user: str, password: str, forwarded_for: str | None = None) -> int:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    r = c.post("/api/tokens", json={"user": user, "password": password}, headers=headers)
    if r.status_code == 429:
        assert r.json()["error"]["code"] == "sign_in_throttled", r.text
    return r.status_code


def _guesses(client: httpx.Client, user: str, forwarded_for: Callable[[int], str]) -> list[int]:
    """One wrong password more than the limit, the n-th forwarded for `forwarded_for(n)`: the
    answers (five 401s, then 429, when they count as one client)."""
    guesses = range(THROTTLE_FAILURES + 1)
    return [_token(client, user, f"guess {n}", forwarded_for=forwarded_for(n)) for n in guesses]


def test_a_direct_client_forging_x_forwarded_for_is_counted_by_its_own_address(served: Served) -> None:
    """A client that is not the trusted proxy names a new address in X-Forwarded-For with every
    guess: it is refused after five all the same, and the addresses it named are not charged."""
    with served.client(DIRECT) as direct:
        answers = _guesses(direct, "ana@acme", lambda n: f"198.51.100.{n}")
        assert answers == [401] * THROTTLE_FAILURES + [429], answers
        assert _token(direct, "ana@acme", PASSWORD, forwarded_for="192.0.2.44") == 429
    with served.client(PROXY) as proxy:  # the client it impersonated, through the proxy: untouched
        assert _token(proxy, "ana@acme", PASSWORD, forwarded_for="198.51.100.0") == 200
    events = served.throttled_clients("ana@acme")
    assert events and all(f'"client": "{DIRECT}"' in event for event in events), events


def test_through_the_trusted_proxy_two_forwarded_clients_are_counted_apart(served: Served) -> None:
    """Behind the proxy every connection comes from its address: the failures of one client it
    forwards for lock that client out, not the other one. A client that writes its own
    X-Forwarded-For before the proxy appends the real address gains nothing by it."""
    with served.client(PROXY) as proxy:
        answers = _guesses(proxy, "dora@acme", lambda n: "198.51.100.20")
        assert answers == [401] * THROTTLE_FAILURES + [429], answers
        assert _token(proxy, "dora@acme", PASSWORD, forwarded_for="198.51.100.21, 198.51.100.20") == 429
        assert _token(proxy, "dora@acme", PASSWORD, forwarded_for="198.51.100.21") == 200


def test_rotating_ipv6_addresses_within_one_64_hits_the_limit(served: Served) -> None:
    """A client owning a /64 guesses from a new address every time: the sixth is refused."""
    with served.client(PROXY) as proxy:
        answers = _guesses(proxy, "adam@acme", lambda n: f"2001:db8:aa:1:{n:x}::{n + 1:x}")
        assert answers == [401] * THROTTLE_FAILURES + [429], answers
        assert _token(proxy, "adam@acme", PASSWORD, forwarded_for="2001:db8:aa:1::dead:beef") == 429
        assert _token(proxy, "adam@acme", PASSWORD, forwarded_for="2001:db8:aa:2::1") == 200


def test_the_per_user_ceiling_across_many_addresses_spares_a_known_client(served: Served) -> None:
    """Guesses from many addresses at once, five each, until the user's ceiling: a new address
    is refused even with the right password (the refusal says what still works); the address
    she signed in from before still signs her in."""
    user = "gil@globex"
    with served.client(PROXY) as proxy:
        assert _token(proxy, user, PASSWORD, forwarded_for="192.0.2.7") == 200
        addresses = USER_CEILING // THROTTLE_FAILURES

        def guesses(n: int) -> list[int]:
            with served.client(PROXY) as c:
                return [
                    _token(c, user, f"guess {n}.{k}", forwarded_for=f"198.51.100.{100 + n}")
                    for k in range(THROTTLE_FAILURES)
                ]

        with ThreadPoolExecutor(addresses) as pool:
            answers = [a for some in pool.map(guesses, range(addresses)) for a in some]
        assert answers == [401] * USER_CEILING, answers
        r = proxy.post(
            "/api/tokens",
            json={"user": user, "password": PASSWORD},
            headers={"X-Forwarded-For": "203.0.113.5"},
        )
        assert r.status_code == 429, r.text
        assert "signed in from before" in r.json()["error"]["fix"]
        assert _token(proxy, user, PASSWORD, forwarded_for="192.0.2.7") == 200


def test_trusted_proxies_from_the_environment_and_bad_ones_refused(tmp_path: Path) -> None:
    """$WARDEN_TRUSTED_PROXIES stands for --trusted-proxy; a value that is not an address or
    network is refused at start-up (uvicorn would silently never match it)."""
    home = _home(tmp_path / "home")
    env = {"WARDEN_TRUSTED_PROXIES": f"10.9.8.0/24, {PROXY}"}
    with _serve(home, [], env=env) as server, server.client(PROXY) as proxy:
        for n in range(THROTTLE_FAILURES):
            assert _token(proxy, "gwen@globex", f"guess {n}", forwarded_for="198.51.100.30") == 401
        assert _token(proxy, "gwen@globex", PASSWORD, forwarded_for="198.51.100.30") == 429
        assert _token(proxy, "gwen@globex", PASSWORD, forwarded_for="198.51.100.31") == 200
    for value, says in [
        ("proxy.lan", "not an IP address or network"),
        ("0.0.0.0/0", "trusts every address"),  # every client a proxy: each picks its address
        ("::/0", "trusts every address"),
    ]:
        refused = subprocess.run(
            [sys.executable, "-m", "warden", "serve", "--port", str(free_port()), "--trusted-proxy", value],
            env=_env(home, {}),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert refused.returncode == 2, refused.stderr
        assert value in refused.stderr and says in refused.stderr, refused.stderr
