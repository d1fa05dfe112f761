"""The sign-in failure limit behind a reverse proxy and against address rotation, over real HTTP
to a real `warden serve` subprocess started with `--trusted-proxy 127.0.0.2`.

Loopback is a whole /8 on Linux, so the test plays each part from its own source address: the
reverse proxy connects from 127.0.0.2 and says whom it forwards for in X-Forwarded-For; a
client reaching the server directly connects from 127.0.0.3 and forges that header. The
server must count the proxy's clients apart (else anyone could lock a user out for everybody
behind the proxy), and must count the direct client by its own address whatever it claims."""

from __future__ import annotations

import json
import os
import signal
import socket
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
    log: Path | None = None

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
def _serve(
    home: Path, args: list[str], env: dict[str, str] | None = None, probe: str = "127.0.0.1"
) -> Iterator[Served]:
    """`warden serve ARGS` on a free loopback port until the block ends (up once `/healthz`
    answers at `probe`); the parties reach it at 127.0.0.1."""
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
    probe_url = f"http://[{probe}]:{port}" if ":" in probe else f"http://{probe}:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                if httpx.get(f"{probe_url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)
        yield Served(url, home, log)
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


def _sign_in(c: httpx.Client, user: str, password: str, **headers: str) -> int:
    r = c.post("/api/tokens", json={"user": user, "password": password}, headers=headers)
    if r.status_code == 429:
        assert r.json()["error"]["code"] == "sign_in_throttled", r.text
    return r.status_code


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


# --- the proxy's address in either IPv4 form: a server listening on every address (`::`) ---


def _dual_stack_loopback() -> str | None:
    """Why a dual-stack socket on `::` cannot be tested here (None: it can): IPv6 loopback must
    answer and an IPv4 peer must reach a `::` socket (as ::ffff:a.b.c.d)."""
    try:
        with socket.socket(socket.AF_INET6) as server:
            server.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            server.bind(("::", 0))
            server.listen()
            port = server.getsockname()[1]
            with socket.create_connection(("::1", port), timeout=5):
                server.accept()[0].close()
            with socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(PROXY, 0)):
                peer = server.accept()[0]
                seen = peer.getpeername()[0]
                peer.close()
    except OSError as exc:
        return f"no IPv6 loopback or dual-stack sockets here: {exc}"
    return None if seen == f"::ffff:{PROXY}" else f"an IPv4 peer of a `::` socket is seen as {seen}"


def _audited(served: Served, user: str, event: str) -> list[dict[str, str]]:
    service = Service(served.home, policy=POLICY)
    try:
        found = service.store.query(
            "SELECT payload_json FROM audit_events WHERE event = ? ORDER BY seq", [event]
        )
    finally:
        service.store.close()
    payloads = [json.loads(r["payload_json"]) for r in found]
    return [p for p in payloads if p.get("user") == user]


def test_a_server_on_every_address_trusts_an_ipv4_proxy_it_sees_as_ipv4_mapped(tmp_path: Path) -> None:
    """`warden serve --host ::` with `--trusted-proxy 127.0.0.2`: the proxy connects over IPv4
    and the `::` socket sees it as ::ffff:127.0.0.2. It is the trusted proxy all the same, so
    the clients it forwards for are counted apart (else one client's guesses would lock the
    user out for everybody behind it); a direct IPv4 client forging the header is still
    counted by its own address, and an IPv6 client over ::1 reaches the same server."""
    why = _dual_stack_loopback()
    if why:
        pytest.skip(why)
    home = _home(tmp_path / "home")
    with _serve(home, ["--host", "::", "--trusted-proxy", PROXY], probe="::1") as server:
        with server.client(PROXY) as proxy:
            answers = _guesses(proxy, "ana@acme", lambda n: "198.51.100.40")
            assert answers == [401] * THROTTLE_FAILURES + [429], answers
            assert _token(proxy, "ana@acme", PASSWORD, forwarded_for="198.51.100.41") == 200
        with server.client(DIRECT) as direct:
            answers = _guesses(direct, "dora@acme", lambda n: f"198.51.100.{50 + n}")
            assert answers == [401] * THROTTLE_FAILURES + [429], answers
        with httpx.Client(base_url=server.url.replace("127.0.0.1", "[::1]"), timeout=60) as v6:
            assert _token(v6, "adam@acme", PASSWORD, forwarded_for="198.51.100.60") == 200
    throttled = _audited(server, "ana@acme", "sign_in_throttled")
    assert [t["client"] for t in throttled] == ["198.51.100.40"], throttled
    forged = _audited(server, "dora@acme", "sign_in_throttled")
    assert {(t["client"], t["counted_as"]) for t in forged} == {(f"::ffff:{DIRECT}", DIRECT)}, forged
    signed_in = _audited(server, "adam@acme", "sign_in_succeeded")
    assert [s["client"] for s in signed_in] == ["::1"], signed_in


def test_a_trusted_proxy_named_in_its_ipv4_mapped_form_is_trusted_as_ipv4(tmp_path: Path) -> None:
    """`--trusted-proxy ::ffff:127.0.0.2` (as a dual-stack listener's log shows the proxy) on a
    server listening on IPv4: the proxy's clients are counted apart all the same. The proxy
    sets X-Forwarded-For (the default `--proxy-header`): a Forwarded header a client wrote, which
    the proxy passes on untouched, names nobody."""
    home = _home(tmp_path / "home")
    with _serve(home, ["--trusted-proxy", f"::ffff:{PROXY}"]) as server, server.client(PROXY) as proxy:
        answers = [
            _sign_in(
                proxy,
                "gil@globex",
                f"guess {n}",
                Forwarded=f"for=192.0.2.{n}",
                **{"X-Forwarded-For": "198.51.100.42"},
            )
            for n in range(THROTTLE_FAILURES + 1)
        ]
        assert answers == [401] * THROTTLE_FAILURES + [429], answers
        assert _token(proxy, "gil@globex", PASSWORD, forwarded_for="198.51.100.43") == 200
    for value in ("::ffff:0:0/96", "::/64"):  # every IPv4 address, in its mapped form
        refused = subprocess.run(
            [sys.executable, "-m", "warden", "serve", "--port", str(free_port()), "--trusted-proxy", value],
            env=_env(home, {}),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert refused.returncode == 2, refused.stderr
        assert "trusts every address" in refused.stderr, refused.stderr


# --- RFC 7239 Forwarded, read when the operator says the proxy sets it -----------------------


@pytest.fixture(scope="module")
def forwarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A server whose trusted proxy (127.0.0.2) sets `Forwarded`; each test a user of its own."""
    home = _home(tmp_path_factory.mktemp("forwarded") / "home")
    with _serve(home, ["--trusted-proxy", PROXY, "--proxy-header", "forwarded"]) as server:
        yield server


def _raw(served: Served, source: str, user: str, password: str, header_lines: list[str]) -> tuple[int, str]:
    """POST /api/tokens from `source` with `header_lines` written as they are (folded lines too):
    the status and the body."""
    body = json.dumps({"user": user, "password": password}).encode()
    port = int(served.url.rsplit(":", 1)[1])
    head = [
        "POST /api/tokens HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        "Connection: close",
        *header_lines,
    ]
    with socket.create_connection(("127.0.0.1", port), timeout=60, source_address=(source, 0)) as s:
        s.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2].decode("utf-8", "replace")


def test_with_forwarded_the_quoted_ipv6_client_the_proxy_appended_is_counted_by_its_64(
    forwarded: Served,
) -> None:
    """The proxy appends `for="[2001:db8:bb:1::N]:4711"` (quoted, bracketed, with a port) after
    the element a client wrote itself: the client is the proxy's element, counted by its /64
    (rotating addresses within it gains nothing), never the element the client wrote."""
    user = "ana@acme"
    with forwarded.client(PROXY) as proxy:
        answers = [
            _sign_in(
                proxy,
                user,
                f"guess {n}",
                Forwarded=f'for=198.51.100.{n};proto=http, for="[2001:db8:bb:1::{n + 1:x}]:4711"',
            )
            for n in range(THROTTLE_FAILURES + 1)
        ]
        assert answers == [401] * THROTTLE_FAILURES + [429], answers
        assert _sign_in(proxy, user, PASSWORD, Forwarded='for="[2001:db8:bb:1::beef]"') == 429
        assert _sign_in(proxy, user, PASSWORD, Forwarded='for="[2001:db8:bb:2::1]:4711"') == 200
        assert _sign_in(proxy, user, PASSWORD, Forwarded="for=198.51.100.0") == 200  # never charged
    counted = {t["counted_as"] for t in _audited(forwarded, user, "sign_in_throttled")}
    assert counted == {"2001:db8:bb:1::/64"}, counted


def test_with_forwarded_an_obfuscated_client_counts_on_its_own_and_unknown_counts_as_the_proxy(
    forwarded: Served,
) -> None:
    """A proxy that hides addresses names each client by an obfuscated identifier (`_...`):
    each counts on its own. `for=unknown` names nobody: it counts as the proxy itself, as it
    would without the header."""
    user = "dora@acme"
    with forwarded.client(PROXY) as proxy:
        answers = [_sign_in(proxy, user, f"guess {n}", Forwarded="for=_hiddenA") for n in range(6)]
        assert answers == [401] * THROTTLE_FAILURES + [429], answers
        assert _sign_in(proxy, user, PASSWORD, Forwarded='for="_hiddenB:_port9"') == 200
        answers = [_sign_in(proxy, user, f"again {n}", Forwarded="for=unknown;proto=https") for n in range(6)]
        assert answers == [401] * THROTTLE_FAILURES + [429], answers
    throttled = [(t["client"], t["counted_as"]) for t in _audited(forwarded, user, "sign_in_throttled")]
    assert throttled == [("_hiddenA", "_hiddenA"), (PROXY, PROXY)], throttled


def test_with_forwarded_a_header_folded_over_lines_and_repeated_reads_the_proxys_last_element(
    forwarded: Served,
) -> None:
    """The Forwarded header folded over several lines (obs-fold), and given twice (the client's
    field, then the proxy's): the elements are read in order across both, and the proxy's last
    one is the client."""
    user = "adam@acme"
    answers = []
    for n in range(THROTTLE_FAILURES + 1):
        status, body = _raw(
            forwarded,
            PROXY,
            user,
            f"guess {n}",
            [
                f"Forwarded: for=198.51.100.{n},",
                f'\tfor="198.51.100.{100 + n}"',
                "Forwarded: for=203.0.113.70",
            ],
        )
        answers.append(status)
    assert answers == [401] * THROTTLE_FAILURES + [429], (answers, body)
    assert _raw(forwarded, PROXY, user, PASSWORD, ["Forwarded: for=203.0.113.71;", " proto=https"])[0] == 200
    throttled = [t["client"] for t in _audited(forwarded, user, "sign_in_throttled")]
    assert throttled == ["203.0.113.70"], throttled


def test_forwarded_from_an_untrusted_peer_never_changes_the_counted_address(forwarded: Served) -> None:
    """A client reaching the server directly writes a new Forwarded (and X-Forwarded-For) with
    every guess, well-formed or not: it is counted by its own address and refused after five.
    Through the proxy that sets Forwarded, an X-Forwarded-For a client wrote is ignored too."""
    user = "gil@globex"
    with forwarded.client(DIRECT) as direct:
        answers = [
            _sign_in(
                direct,
                user,
                f"guess {n}",
                Forwarded=f"for=198.51.100.{n}",
                **{"X-Forwarded-For": f"192.0.2.{n}"},
            )
            for n in range(THROTTLE_FAILURES)
        ]
        answers.append(_sign_in(direct, user, "guess", Forwarded='for="unterminated'))
        assert answers == [401] * THROTTLE_FAILURES + [429], answers
    with forwarded.client(PROXY) as proxy:
        assert _sign_in(proxy, user, PASSWORD, Forwarded="for=198.51.100.1") == 200  # not charged
        answers = [
            _sign_in(
                proxy, user, f"guess {n}", Forwarded="for=203.0.113.80", **{"X-Forwarded-For": f"192.0.2.{n}"}
            )
            for n in range(THROTTLE_FAILURES + 1)
        ]
        assert answers == [401] * THROTTLE_FAILURES + [429], answers
    clients = [t["client"] for t in _audited(forwarded, user, "sign_in_throttled")]
    assert clients == [DIRECT, "203.0.113.80"], clients


def test_with_forwarded_the_proto_the_proxy_wrote_decides_whether_cookies_are_secure(
    forwarded: Served,
) -> None:
    """The proxy's element says `proto=https`: the sign-in page's cookie is Secure. A `proto` a
    client wrote in its own element before the proxy's, or from outside the proxy, is not read."""

    def secure(source: str, value: str) -> bool:
        with forwarded.client(source) as c:
            r = c.get("/sign-in", headers={"Forwarded": value})
            assert r.status_code == 200, r.text
            return "secure" in r.headers["set-cookie"].lower()

    assert secure(PROXY, "for=198.51.100.5;proto=https")
    assert not secure(PROXY, "for=198.51.100.5;proto=http")
    assert not secure(PROXY, "for=192.0.2.1;proto=https, for=198.51.100.5;proto=http")
    assert not secure(DIRECT, "for=198.51.100.5;proto=https")


def test_a_forwarded_header_from_the_proxy_that_cannot_be_read_is_refused_with_a_code(
    forwarded: Served,
) -> None:
    """What the proxy passes on cannot be read (a client's stray quote before the proxy's
    element, an IPv6 node without quotes and brackets, a parameter without a value): 400
    `bad_forwarded`, on the API and the pages alike, never counted as the proxy (a client could
    then lock everybody behind it out) and never a traceback."""
    bad = ['for="198.51.100.9, for=203.0.113.90', "for=2001:db8::1", "for", "for=1.2.3.4;for=5.6.7.8"]
    with forwarded.client(PROXY) as proxy:
        for value in bad:
            r = proxy.post(
                "/api/tokens", json={"user": "gwen@globex", "password": "x"}, headers={"Forwarded": value}
            )
            assert r.status_code == 400, (value, r.text)
            assert r.json()["error"]["code"] == "bad_forwarded", r.text
            page = proxy.get("/sign-in", headers={"Forwarded": value})
            assert page.status_code == 400 and "bad_forwarded" in page.text, page.text
    assert _audited(forwarded, "gwen@globex", "sign_in_failed") == []
    assert forwarded.log is not None and "Traceback" not in forwarded.log.read_text()


# --- the limits are settings ------------------------------------------------------------------


def test_the_sign_in_limits_come_from_serve_options_and_the_environment(tmp_path: Path) -> None:
    """`--sign-in-failures 2 --sign-in-window 1h` and `$WARDEN_SIGN_IN_CEILING=4`: a client is
    refused after two failures (the refusal says to wait 60 minutes), and after four failures
    from all clients a new client is refused even with the right password; the address that
    signed in before still signs in."""
    home = _home(tmp_path / "home")
    args = ["--trusted-proxy", PROXY, "--sign-in-failures", "2", "--sign-in-window", "1h"]
    with _serve(home, args, env={"WARDEN_SIGN_IN_CEILING": "4"}) as server, server.client(PROXY) as proxy:
        user = "ana@acme"
        assert _token(proxy, user, PASSWORD, forwarded_for="192.0.2.9") == 200
        assert [_token(proxy, user, f"guess {n}", forwarded_for="198.51.100.1") for n in range(3)] == [
            401,
            401,
            429,
        ]
        r = proxy.post(
            "/api/tokens",
            json={"user": user, "password": PASSWORD},
            headers={"X-Forwarded-For": "198.51.100.1"},
        )
        assert r.status_code == 429 and "wait 60 minutes" in r.json()["error"]["fix"], r.text
        assert [_token(proxy, user, f"guess {n}", forwarded_for="198.51.100.2") for n in range(2)] == [
            401,
            401,
        ]
        r = proxy.post(
            "/api/tokens",
            json={"user": user, "password": PASSWORD},
            headers={"X-Forwarded-For": "198.51.100.3"},
        )
        assert r.status_code == 429 and "signed in from before" in r.json()["error"]["fix"], r.text
        assert _token(proxy, user, PASSWORD, forwarded_for="192.0.2.9") == 200


@pytest.mark.parametrize(
    ("args", "env", "says"),
    [
        (["--sign-in-failures", "0"], {}, "--sign-in-failures '0'"),
        (["--sign-in-failures", "five"], {}, "--sign-in-failures 'five'"),
        (["--sign-in-ceiling", "3"], {}, "below --sign-in-failures 5"),
        (["--sign-in-window", "15 fortnights"], {}, "--sign-in-window '15 fortnights'"),
        ([], {"WARDEN_SIGN_IN_WINDOW": "0m"}, "--sign-in-window '0m'"),
        ([], {"WARDEN_SIGN_IN_CEILING": "-1"}, "--sign-in-ceiling '-1'"),
    ],
)
def test_a_sign_in_limit_that_makes_no_sense_is_refused_at_start_up_with_a_code(
    tmp_path: Path, args: list[str], env: dict[str, str], says: str
) -> None:
    refused = subprocess.run(
        [sys.executable, "-m", "warden", "serve", "--port", str(free_port()), "--policy", str(POLICY), *args],
        env=_env(tmp_path / "home", env),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode == 2, refused.stderr
    assert "(bad_sign_in_limit)" in refused.stderr and says in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr


def test_a_proxy_header_warden_does_not_read_is_refused_at_start_up_with_a_code(tmp_path: Path) -> None:
    for args, env in [(["--proxy-header", "x-real-ip"], {}), ([], {"WARDEN_PROXY_HEADER": "via"})]:
        refused = subprocess.run(
            [
                sys.executable,
                "-m",
                "warden",
                "serve",
                "--port",
                str(free_port()),
                "--trusted-proxy",
                PROXY,
                *args,
            ],
            env=_env(tmp_path / "home", env),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert refused.returncode == 2, refused.stderr
        assert "(bad_proxy_header)" in refused.stderr, refused.stderr
