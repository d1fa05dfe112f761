"""The sign-in failure limit (5 in 15 minutes per user and client) played as an attacker would:
a burst of wrong guesses sent at once, to one server's request threads on the DuckDB ledger and
to several hosts sharing one Postgres ledger. Checking a password (argon2) is slow; a limit
that counts the failures, checks, then records would let every guess of the burst through the
count. At most five guesses may be checked; the others are refused (`sign_in_throttled`) and
so is the right password after them. The API's token exchange goes through the same call
(server/api.py). Also: IPv6 clients count by their /64, the per-user ceiling across clients,
and the pruning of old attempts. The Postgres cases are skipped, saying why, when no Postgres
answers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from _acme_tree import ACME
from _ledgers import either_ledger
from argon2 import PasswordHasher

from warden.errors import UsageError, WardenError
from warden.service import Service
from warden.service.accounts import (
    ATTEMPT_RETENTION,
    THROTTLE_FAILURES,
    THROTTLE_WINDOW,
    USER_CEILING,
    SignInLimits,
    throttle_client,
)
from warden.service.errors import BadCredentials, SignInThrottled
from warden.store._util import now

PASSWORD = "correct horse battery"
GUESSES = 12


@pytest.fixture(params=["duckdb", "postgres"])
def ledger(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    yield from either_ledger(request, monkeypatch, "warden_signin")


@pytest.fixture
def made(ledger: str) -> Iterator[list[Service]]:
    """The services a test made, their stores closed after it (before its database is dropped)."""
    services: list[Service] = []
    yield services
    for service in services:
        service.store.close()


def _hosts(ledger: str, tmp_path: Path, made: list[Service]) -> list[Service]:
    """Three hosts on Postgres; on DuckDB one server (the file is one host's), its threads."""
    count = 3 if ledger == "postgres" else 1
    hosts = [Service(tmp_path / f"home{n}", policy=ACME / "policy.yaml") for n in range(count)]
    made.extend(hosts)
    for host in hosts:
        host.store.threaded = True  # as the server runs it
        host.principal("ana@acme", writing=True)  # the policy in force read before the burst
    hosts[0].accounts.add_user("ana@acme", "acme", PASSWORD)
    return hosts


def _burst(
    hosts: list[Service], guesses: list[str], client: str = "203.0.113.7", clients: list[str] | None = None
) -> list[Any]:
    """Every guess at once (one thread each, spread over the hosts; from `client`, or from
    `clients[n]` for the n-th guess): each one's principal or error."""
    start = threading.Barrier(len(guesses))

    def guess(n: int) -> Any:
        start.wait()
        sender = clients[n] if clients else client
        try:
            return hosts[n % len(hosts)].accounts.authenticate_password("ana@acme", guesses[n], client=sender)
        except WardenError as exc:
            return exc

    with ThreadPoolExecutor(len(guesses)) as pool:
        return list(pool.map(guess, range(len(guesses))))


def _events(service: Service, event: str) -> int:
    return len(service.store.query("SELECT seq FROM audit_events WHERE event = ?", [event]))


def test_a_burst_of_wrong_guesses_at_once_checks_at_most_five_and_throttles_the_rest(
    ledger: str, tmp_path: Path, made: list[Service]
) -> None:
    hosts = _hosts(ledger, tmp_path, made)
    results = _burst(hosts, [f"guess number {n}" for n in range(GUESSES)])
    checked = [r for r in results if isinstance(r, BadCredentials)]
    throttled = [r for r in results if isinstance(r, SignInThrottled)]
    assert len(checked) == THROTTLE_FAILURES, results
    assert len(throttled) == GUESSES - THROTTLE_FAILURES, results
    assert throttled[0].code == "sign_in_throttled"
    a = hosts[0]
    assert _events(a, "sign_in_failed") == THROTTLE_FAILURES
    assert _events(a, "sign_in_throttled") == GUESSES - THROTTLE_FAILURES
    for host in hosts:  # the right password, on any host, is refused too while throttled
        with pytest.raises(SignInThrottled):
            host.accounts.authenticate_password("ana@acme", PASSWORD, client="203.0.113.7")
    assert _events(a, "sign_in_succeeded") == 0
    # another client is not throttled by this one's guesses
    assert a.accounts.authenticate_password("ana@acme", PASSWORD, client="198.51.100.2").user == "ana@acme"


def test_the_right_password_in_a_burst_under_the_limit_signs_in_and_clears_the_failures(
    ledger: str, tmp_path: Path, made: list[Service]
) -> None:
    hosts = _hosts(ledger, tmp_path, made)
    guesses = [f"guess number {n}" for n in range(THROTTLE_FAILURES - 1)] + [PASSWORD]
    results = _burst(hosts, guesses)
    assert [r.user for r in results if not isinstance(r, Exception)] == ["ana@acme"], results
    assert sum(isinstance(r, BadCredentials) for r in results) == THROTTLE_FAILURES - 1, results
    a = hosts[0]
    assert _events(a, "sign_in_succeeded") == 1
    # the success cleared the failures recorded before it (not those of guesses of the burst
    # recorded after it): a new burst gets at most a whole limit of guesses checked
    late = _burst(hosts, [f"late guess {n}" for n in range(THROTTLE_FAILURES + 2)])
    assert 1 <= sum(isinstance(r, BadCredentials) for r in late) <= THROTTLE_FAILURES, late
    assert sum(isinstance(r, SignInThrottled) for r in late) >= 2, late


def test_a_check_whose_process_dies_counts_as_a_failure(
    ledger: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, made: list[Service]
) -> None:
    """The process checking a password dies (here: the check raises) after the attempt was
    recorded: the attempt stays a failure, it does not hand the attacker a free one."""
    hosts = _hosts(ledger, tmp_path, made)
    a = hosts[0]

    class Dying(PasswordHasher):
        def verify(self, *_: Any) -> bool:
            raise SystemExit("killed while checking the password")

    monkeypatch.setattr(a.accounts, "hasher", Dying())
    for _ in range(THROTTLE_FAILURES):
        with pytest.raises(SystemExit):
            a.accounts.authenticate_password("ana@acme", PASSWORD, client="203.0.113.7")
    monkeypatch.undo()
    with pytest.raises(SignInThrottled):
        hosts[-1].accounts.authenticate_password("ana@acme", PASSWORD, client="203.0.113.7")


def test_a_new_password_set_by_the_operator_lifts_the_limit_as_the_refusal_says(
    ledger: str, tmp_path: Path, made: list[Service]
) -> None:
    hosts = _hosts(ledger, tmp_path, made)
    _burst(hosts, [f"guess number {n}" for n in range(THROTTLE_FAILURES + 1)])
    with pytest.raises(SignInThrottled) as refused:
        hosts[-1].accounts.authenticate_password("ana@acme", PASSWORD, client="203.0.113.7")
    assert "warden users passwd" in (refused.value.fix or "")
    hosts[0].accounts.set_password("ana@acme", "a brand new passphrase")
    with pytest.raises(BadCredentials):  # the old one is no longer hers: checked, not throttled
        hosts[-1].accounts.authenticate_password("ana@acme", PASSWORD, client="203.0.113.7")
    signed_in = hosts[-1].accounts.authenticate_password(
        "ana@acme", "a brand new passphrase", client="203.0.113.7"
    )
    assert signed_in.user == "ana@acme"


def _attempt(service: Service, password: str, client: str) -> Any:
    try:
        return service.accounts.authenticate_password("ana@acme", password, client=client)
    except WardenError as exc:
        return exc


def test_ipv6_clients_count_by_their_64_and_ipv4_by_the_whole_address() -> None:
    assert throttle_client("2001:db8:5:6:a:b:c:d") == "2001:db8:5:6::/64"
    assert throttle_client("2001:DB8:5:6::1") == throttle_client("2001:db8:5:6:ffff::9")
    assert throttle_client("2001:db8:5:7::1") != throttle_client("2001:db8:5:6::1")
    assert throttle_client("::ffff:198.51.100.4") == "198.51.100.4"  # IPv4 on a dual-stack socket
    assert throttle_client("198.51.100.4") != throttle_client("198.51.100.5")
    assert throttle_client("unknown") == "unknown"


def test_rotating_ipv6_addresses_within_one_64_hits_the_limit(
    ledger: str, tmp_path: Path, made: list[Service]
) -> None:
    """An attacker owning a /64 (every subscriber gets one) signs in from a new address for every
    guess: the sixth is refused as if the addresses were one, and another /64 is not."""
    hosts = _hosts(ledger, tmp_path, made)
    results = [
        _attempt(hosts[n % len(hosts)], f"guess {n}", f"2001:db8:5:6:{n:x}:{n * 7:x}::{n + 1:x}")
        for n in range(THROTTLE_FAILURES + 2)
    ]
    assert [type(r) for r in results] == [BadCredentials] * THROTTLE_FAILURES + [SignInThrottled] * 2
    assert isinstance(_attempt(hosts[-1], PASSWORD, "2001:db8:5:6::beef"), SignInThrottled)
    assert _attempt(hosts[0], PASSWORD, "2001:db8:5:7::1").user == "ana@acme"


def test_the_per_user_ceiling_across_many_addresses_holds_for_a_burst_and_spares_known_clients(
    ledger: str, tmp_path: Path, made: list[Service]
) -> None:
    """Guesses spread over many addresses, five per address: once the user's failures from all
    clients reach the ceiling, a client that never signed in as her is refused (the right
    password too), even in a burst at once from fresh addresses; the address she signed in from
    before the attack still signs her in. (The failures before the burst are written as rows:
    checking 45 passwords one by one proves nothing the burst does not.)"""
    hosts = _hosts(ledger, tmp_path, made)
    a = hosts[0]
    assert _attempt(a, PASSWORD, "192.0.2.1").user == "ana@acme"  # her office, known
    earlier = now()  # after her password was set (which starts a fresh count)
    below = USER_CEILING - THROTTLE_FAILURES
    _seed(a, [(f"198.51.100.{n // THROTTLE_FAILURES}", earlier, False) for n in range(below)], [])
    fresh = [f"203.0.113.{n}" for n in range(GUESSES)]
    results = _burst(hosts, [f"burst guess {n}" for n in range(GUESSES)], clients=fresh)
    assert sum(isinstance(r, BadCredentials) for r in results) == THROTTLE_FAILURES, results
    throttled = [r for r in results if isinstance(r, SignInThrottled)]
    assert len(throttled) == GUESSES - THROTTLE_FAILURES, results
    assert "signed in from before" in (throttled[0].fix or "")
    refused = _attempt(hosts[-1], PASSWORD, "203.0.113.200")
    assert isinstance(refused, SignInThrottled) and refused.code == "sign_in_throttled"
    assert _attempt(hosts[-1], PASSWORD, "192.0.2.1").user == "ana@acme"
    # the known client keeps its own limit: five more failures from it, then refused too
    for n in range(THROTTLE_FAILURES):
        assert isinstance(_attempt(a, f"typo {n}", "192.0.2.1"), BadCredentials)
    assert isinstance(_attempt(a, PASSWORD, "192.0.2.1"), SignInThrottled)
    payloads = a.store.query(
        "SELECT payload_json FROM audit_events WHERE event = 'sign_in_throttled' ORDER BY seq"
    )
    assert '"limit": "user"' in payloads[0]["payload_json"]
    assert '"limit": "client"' in payloads[-1]["payload_json"]


def _seed(
    service: Service, attempts: list[tuple[str, datetime, bool]], guards: list[tuple[str, datetime]]
) -> None:
    """Attempts of ana@acme (client, when, ok) and guard rows (user, when) made in the past."""
    with service.store.connect() as con:
        for n, (client, at, ok) in enumerate(attempts):
            con.execute(
                'INSERT INTO sign_in_attempts ("user", client, "at", ok, attempt_id) VALUES (?, ?, ?, ?, ?)',
                ["ana@acme", client, at, ok, f"seeded-{client}-{n}"],
            )
        for user, at in guards:
            con.execute(
                'INSERT INTO sign_in_guards ("user", client, touched_at) VALUES (?, ?, ?)', [user, "", at]
            )


def test_pruning_drops_attempts_and_guards_past_the_retention_and_keeps_the_rest(
    ledger: str, tmp_path: Path, made: list[Service]
) -> None:
    """Anyone may try to sign in under any name: the rows must not pile up. A sign-in drops
    those older than the retention (at most every few minutes per process); a success within
    it still makes its client known."""
    a = _hosts(ledger, tmp_path, made)[0]
    t = now()
    old, recent = t - ATTEMPT_RETENTION - timedelta(days=1), t - ATTEMPT_RETENTION + timedelta(days=1)
    _seed(
        a,
        [("198.51.100.1", old, False), ("198.51.100.2", old, True), ("192.0.2.1", recent, True)],
        [("ghost@nowhere", old), ("bob@acme", recent)],
    )
    assert isinstance(_attempt(a, "a wrong guess", "203.0.113.9"), BadCredentials)
    attempts = a.store.query('SELECT client FROM sign_in_attempts ORDER BY "at"')
    assert [r["client"] for r in attempts] == ["192.0.2.1", "203.0.113.9"]
    guards = a.store.query('SELECT "user" FROM sign_in_guards ORDER BY "user"')
    assert {"ghost@nowhere"}.isdisjoint(r["user"] for r in guards)
    assert "bob@acme" in [r["user"] for r in guards]
    # the next sign-in within a few minutes only checks the clock: old rows wait for the next prune
    _seed(a, [("198.51.100.3", old, False)], [])
    assert isinstance(_attempt(a, "another guess", "203.0.113.9"), BadCredentials)
    assert len(a.store.query("SELECT client FROM sign_in_attempts WHERE client = '198.51.100.3'")) == 1


def test_a_success_recorded_under_a_whole_ipv6_address_before_the_64_rule_still_makes_it_known(
    ledger: str, tmp_path: Path, made: list[Service]
) -> None:
    """Before clients were counted by their /64, a success was stored under the whole address:
    after the upgrade, the same address is still a client she signed in from (the ceiling
    spares it), though new rows name the /64."""
    a = _hosts(ledger, tmp_path, made)[0]
    t = now()
    _seed(a, [("2001:db8:1:2::5", t, True)], [])  # her sign-in, as the earlier code recorded it
    _seed(a, [(f"198.51.100.{n // THROTTLE_FAILURES}", t, False) for n in range(USER_CEILING)], [])
    assert isinstance(_attempt(a, PASSWORD, "2001:db8:1:2::77"), SignInThrottled)  # her /64, not it
    assert _attempt(a, PASSWORD, "2001:db8:1:2::5").user == "ana@acme"


def test_configured_limits_replace_the_defaults_for_a_burst_on_every_host(
    ledger: str, tmp_path: Path, made: list[Service]
) -> None:
    """Every host set to 2 failures per client and a ceiling of 3 per user: a burst from one
    client gets two guesses checked; one more failure from a second client reaches the ceiling,
    and a third, new client is refused with the right password, the user-limit refusal."""
    hosts = _hosts(ledger, tmp_path, made)
    for host in hosts:
        host.accounts.limits = SignInLimits(failures=2, ceiling=3)
    results = _burst(hosts, [f"guess number {n}" for n in range(GUESSES)])
    assert sum(isinstance(r, BadCredentials) for r in results) == 2, results
    assert sum(isinstance(r, SignInThrottled) for r in results) == GUESSES - 2, results
    assert isinstance(_attempt(hosts[-1], "one more", "198.51.100.8"), BadCredentials)
    refused = _attempt(hosts[0], PASSWORD, "198.51.100.9")
    assert isinstance(refused, SignInThrottled) and "signed in from before" in (refused.fix or "")


def test_the_configured_window_decides_which_earlier_failures_count(
    ledger: str, tmp_path: Path, made: list[Service]
) -> None:
    """Five failures 20 minutes ago: with a one-hour window they count (the right password is
    refused and the refusal says to wait 60 minutes); outside the default 15-minute window they
    no longer do."""
    a = _hosts(ledger, tmp_path, made)[0]
    earlier = now() - timedelta(minutes=20)
    with a.store.connect() as con:  # her password was set just now (a fresh count): date it back
        con.execute('UPDATE accounts SET updated_at = ? WHERE "user" = ?', [earlier, "ana@acme"])
    _seed(a, [("203.0.113.7", earlier + timedelta(seconds=1), False)] * THROTTLE_FAILURES, [])
    a.accounts.limits = SignInLimits(window=timedelta(hours=1))
    refused = _attempt(a, PASSWORD, "203.0.113.7")
    assert isinstance(refused, SignInThrottled) and "wait 60 minutes" in (refused.fix or ""), refused
    a.accounts.limits = SignInLimits()
    assert _attempt(a, PASSWORD, "203.0.113.7").user == "ana@acme"


@pytest.mark.parametrize(
    ("failures", "ceiling", "window", "says"),
    [
        ("0", None, None, "--sign-in-failures '0' is not a whole number from 1"),
        ("2.5", None, None, "--sign-in-failures '2.5'"),
        (None, "many", None, "--sign-in-ceiling 'many'"),
        ("10", "9", None, "below --sign-in-failures 10"),
        (None, None, "30s", "--sign-in-window '30s'"),
        (None, None, "31d", "--sign-in-window '31d'"),
        (None, None, "15", "--sign-in-window '15'"),
    ],
)
def test_sign_in_limits_that_make_no_sense_are_refused_with_a_code(
    failures: str | None, ceiling: str | None, window: str | None, says: str
) -> None:
    with pytest.raises(UsageError) as refused:
        SignInLimits.parse(failures, ceiling, window)
    assert refused.value.code == "bad_sign_in_limit" and says in refused.value.message, refused.value.message
    assert refused.value.fix


def test_sign_in_limits_as_given_and_by_default() -> None:
    assert SignInLimits.parse() == SignInLimits(THROTTLE_FAILURES, USER_CEILING, THROTTLE_WINDOW)
    assert SignInLimits.parse("3", " 30 ", "2h") == SignInLimits(3, 30, timedelta(hours=2))
    assert SignInLimits.parse(None, None, "90s") == SignInLimits(window=timedelta(seconds=90))
    assert SignInLimits.parse(4, 4, "30d").window == ATTEMPT_RETENTION
