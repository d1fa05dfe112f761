"""Two hosts doing the same thing at once on one Postgres ledger, outside the graph's nodes:
two triages of one finding; two deliverers draining one outbox (and one whose lease ran out);
two cancels, or a cancel and a decision, of one waiting run; a resume settling a waiting tree
while its notice is delivered, or while a decision on it is claimed; two operators adding one
account, setting one password or revoking one token; two sign-outs of one session; two OIDC
sign-ins begun at once, and one sign-in's callback arriving twice. And races that were safe
already: two approvers, an SLA escalation and a decision, two comments.

Each host is a :class:`Service` of its own sharing one scratch Postgres database. Transactions
there run at REPEATABLE READ: one that writes a row another committed after its snapshot was
taken fails (a serialization failure, or a unique violation for a plain INSERT) instead of
waiting. :class:`Lineup` holds a racer's write transaction once its snapshot is taken until
the others got as far (or ran to their end), the interleaving that loses such a race, so each
race is played every time rather than now and then. The loser must re-read and decide again,
or be refused with a coded error; never a raw psycopg error. Skipped, saying why, when no
Postgres answers. Races on one waiting tree share one state directory (two processes of one
host: the embedded engine's checkpoints are in it); the others use one per host."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import pytest
from _acme_tree import ACME
from _ledgers import shared_postgres
from _queue_helpers import policy_copy, webhook_server

from warden.errors import UsageError, WardenError
from warden.service import RunRefused, Service
from warden.service.driving import RunBusy
from warden.store.postgres import PostgresLedger

T = TypeVar("T")

PASSWORD = "correct horse battery"


@pytest.fixture
def ledger(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh Postgres database the test's hosts share."""
    yield from shared_postgres(monkeypatch, "warden_hosts")


class Lineup:
    """Holds racing threads' write transactions right after their first statement (the
    snapshot taken): :meth:`race` until every racer got there, then they all write at once;
    :meth:`overtaken` until another call has run to its end (committed after that snapshot)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, parties: int = 2, *, timeout: float = 5.0) -> None:
        """`timeout`: how long the first racer waits for the others; short when its first
        statement takes a row lock the others then wait for (they cannot come to the line)."""
        self.barrier = threading.Barrier(parties, timeout=timeout)
        self.local = threading.local()
        original = PostgresLedger.connect
        lineup = self

        @contextmanager
        def connect(ledger: PostgresLedger, *, read_only: bool) -> Iterator[Any]:
            with original(ledger, read_only=read_only) as con:
                hold = getattr(lineup.local, "hold", None)
                if not read_only and hold is not None:
                    lineup.local.skip -= 1
                if not read_only and hold is not None and lineup.local.skip < 0:
                    lineup.local.hold = None
                    execute, before, after = con.execute, lineup.local.before, lineup.local.after
                    done = [0]

                    def counted(sql: str, params: Any = None) -> Any:
                        done[0] += 1
                        if before:
                            del con.execute  # the class's execute from now on
                            hold()
                            return execute(sql, params)
                        try:
                            return execute(sql, params)
                        finally:
                            if done[0] == after:
                                del con.execute
                                hold()

                    con.execute = counted
                yield con

        monkeypatch.setattr(PostgresLedger, "connect", connect)

    def _wait(self) -> None:
        with suppress(threading.BrokenBarrierError):  # a racer that never wrote (refused before)
            self.barrier.wait()

    def _run(
        self,
        call: Callable[[], T],
        hold: Callable[[], None] | None,
        skip: int = 0,
        before: bool = False,
        after: int = 1,
    ) -> T | Exception:
        self.local.hold, self.local.skip, self.local.before, self.local.after = hold, skip, before, after
        try:
            return call()
        except Exception as exc:
            return exc
        finally:
            self.local.hold = None

    def race(self, *calls: Callable[[], T], skip: int = 0) -> list[T | Exception]:
        """Run `calls` at once, one thread each, their write transactions number `skip` + 1
        lined up; each one's result or exception."""
        with ThreadPoolExecutor(len(calls)) as pool:
            return list(pool.map(lambda call: self._run(call, self._wait, skip), calls))

    def overtaken(
        self, late: Callable[[], T], early: Callable[[], Any], *, skip: int = 0, before: bool = False
    ) -> tuple[T | Exception, Any]:
        """Run `late` until its write transaction number `skip` + 1 took its snapshot (or, with
        `before`, is about to), then all of `early`, then the rest of `late`: (late's outcome,
        early's)."""
        placed, done = threading.Event(), threading.Event()

        def hold() -> None:
            placed.set()
            done.wait(timeout=10)

        def first() -> Any:
            placed.wait(timeout=10)
            try:
                return self._run(early, None)
            finally:
                done.set()

        def last() -> T | Exception:
            try:
                return self._run(late, hold, skip, before)
            finally:
                placed.set()  # (it never wrote so often: `early` runs now)

        with ThreadPoolExecutor(2) as pool:
            late_run = pool.submit(last)
            early_run = pool.submit(first)
            return late_run.result(), early_run.result()

    def holding(
        self, holder: Callable[[], T], waiter: Callable[[], Any], *, statement: int, for_s: float = 1.0
    ) -> tuple[T | Exception, Any]:
        """Run `holder` until its first write transaction ran `statement` statements (holding
        the rows they locked), then `waiter`, which blocks on those rows, its snapshot taken;
        `for_s` later `holder` goes on and commits: (holder's outcome, waiter's)."""
        placed = threading.Event()

        def hold() -> None:
            placed.set()
            time.sleep(for_s)

        def first() -> T | Exception:
            try:
                return self._run(holder, hold, after=statement)
            finally:
                placed.set()

        def second() -> Any:
            placed.wait(timeout=10)
            return self._run(waiter, None)

        with ThreadPoolExecutor(2) as pool:
            held, waited = pool.submit(first), pool.submit(second)
            return held.result(), waited.result()


def _raw(results: list[Any]) -> list[Exception]:
    """What came out that is not a coded Warden error nor a result: a lost race leaking."""
    return [r for r in results if isinstance(r, Exception) and not isinstance(r, WardenError)]


def _hosts(
    tmp_path: Path, n: int = 2, *, shared_home: bool = False, policy: Path | None = None
) -> list[Service]:
    return [
        Service(tmp_path / ("home" if shared_home else f"home{i}"), policy=policy or ACME / "policy.yaml")
        for i in range(n)
    ]


def _waiting_root(service: Service) -> str:
    ana = service.principal("ana@acme", writing=True)
    started = service.start(ana, ACME / "notice.md", tenant="acme")
    assert started.status == "waiting_approval", started
    return started.root_run_id


def _completed_root(service: Service) -> str:
    root = _waiting_root(service)
    dora = service.principal("dora@acme")
    outcome = service.decide(dora, root, "approve", role="dpo")
    while outcome.waiting:
        outcome = service.decide(dora, outcome.waiting[0]["run_id"], "approve", role="dpo")
    assert outcome.status == "completed", outcome
    return root


def _events(service: Service, event: str) -> list[dict[str, Any]]:
    return service.store.query(
        "SELECT run_id, actor, payload_json FROM audit_events WHERE event = ? ORDER BY chain_no", [event]
    )


# --- triage ------------------------------------------------------------------------------------


def test_two_hosts_triaging_one_finding_at_once_both_verdicts_are_recorded_in_turn(
    ledger: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = _hosts(tmp_path)
    root = _completed_root(a)
    dora = a.principal("dora@acme")
    finding = a.findings(dora, root)[0]
    lineup = Lineup(monkeypatch, 2)
    results = lineup.race(
        lambda: a.triage(dora, finding["finding_id"], "false_positive", "not personal data", run_id=root),
        lambda: b.triage(
            b.principal("dora@acme"), finding["finding_id"], "accepted_risk", "known", run_id=root
        ),
    )
    assert _raw(results) == [], results
    assert all(isinstance(r, dict) for r in results), results
    events = [e["payload_json"] for e in _events(a, "finding_triaged")]
    assert len(events) == 2, "both verdicts audited"
    first, second = (json.loads(e) for e in events)
    assert first["previous"] is None and second["previous"] == first["mark"], "the later saw the earlier"
    shown = next(f for f in a.findings(dora, root) if f["finding_id"] == finding["finding_id"])
    assert shown["triage"]["state"] == second["mark"], "the later verdict stands"
    assert all(report.ok for report in a.verify_audit(dora))


# --- the notification outbox -------------------------------------------------------------------


def test_two_hosts_delivering_the_outbox_at_once_send_each_notice_once(
    ledger: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with webhook_server() as hooks:
        policy = policy_copy(tmp_path, webhook_url=hooks.url)
        a, b = _hosts(tmp_path, policy=policy)
        roots = {_waiting_root(a), _waiting_root(b)}
        lineup = Lineup(monkeypatch, 2)
        results = lineup.race(a.deliver_notifications, b.deliver_notifications)
        assert _raw(results) == [], results
        assert sum(r.sent for r in results if not isinstance(r, Exception)) == 2, results
        assert sorted(body["run_id"] for _, body in hooks.received) == sorted(roots), "each notice once"
        assert a.deliver_notifications().sent == 0


# --- cancelling and deciding a waiting run ---------------------------------------------------


def test_two_hosts_cancelling_one_waiting_run_at_once_one_cancels_and_the_other_is_refused(
    ledger: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = _hosts(tmp_path, shared_home=True)
    root = _waiting_root(a)
    lineup = Lineup(monkeypatch, 2)
    results = lineup.race(
        lambda: a.cancel(a.principal("ana@acme"), root, "sent the wrong notice"),
        lambda: b.cancel(b.principal("ana@acme"), root, "sent the wrong notice"),
    )
    assert _raw(results) == [], results
    refused = [r for r in results if isinstance(r, Exception)]
    assert len(refused) == 1 and isinstance(refused[0], RunRefused), results
    assert [r.status for r in results if not isinstance(r, Exception)] == ["cancelled"]
    assert len(_events(a, "run_cancelled")) == 1, "cancelled once"
    assert a.store.query("SELECT status FROM runs WHERE run_id = ?", [root]) == [{"status": "cancelled"}]


def test_a_cancel_racing_a_decision_on_one_run_one_wins_and_the_other_is_refused(
    ledger: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = _hosts(tmp_path, shared_home=True)
    root = _waiting_root(a)
    lineup = Lineup(monkeypatch, 2)
    cancelled, decided = lineup.race(
        lambda: a.cancel(a.principal("ana@acme"), root, "sent the wrong notice"),
        lambda: b.decide(b.principal("dora@acme"), root, "approve", role="dpo"),
    )
    assert _raw([cancelled, decided]) == [], (cancelled, decided)
    assert isinstance(cancelled, Exception) != isinstance(decided, Exception), (cancelled, decided)
    loser = cancelled if isinstance(cancelled, Exception) else decided
    assert isinstance(loser, RunRefused), loser
    [status] = a.store.query("SELECT status FROM runs WHERE run_id = ?", [root])
    approved = _events(a, "approval:approve")
    if isinstance(decided, Exception):  # the cancel won: nothing was approved
        assert status["status"] == "cancelled" and approved == []
    else:  # the decision won: the tree went on, nothing was cancelled
        assert status["status"] != "cancelled" and len(approved) == 1
        assert _events(a, "run_cancelled") == []


def test_a_decision_overtaken_by_a_cancel_is_refused_saying_the_run_was_cancelled(
    ledger: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = _hosts(tmp_path, shared_home=True)
    root = _waiting_root(a)
    decided, cancelled = Lineup(monkeypatch).overtaken(
        lambda: b.decide(b.principal("dora@acme"), root, "approve", role="dpo"),
        lambda: a.cancel(a.principal("ana@acme"), root, "sent the wrong notice"),
        before=True,  # the claim's transaction about to start: the cancel commits first
    )
    assert cancelled.status == "cancelled", cancelled
    assert isinstance(decided, RunRefused) and decided.code == "refused", decided
    assert "was cancelled just now" in str(decided) and "sent the wrong notice" in str(decided), decided
    assert _events(a, "approval:approve") == []


# --- accounts and sessions ---------------------------------------------------------------------


def _ready(*hosts: Service) -> None:
    """The policy in force read (initialised once) by every host before the race."""
    for host in hosts:
        host.principal("ana@acme", writing=True)


def test_two_hosts_adding_one_account_at_once_one_adds_it_and_the_other_is_refused(
    ledger: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = _hosts(tmp_path)
    _ready(a, b)
    lineup = Lineup(monkeypatch, 2)
    results = lineup.race(  # (the first write transaction reads the policy in force)
        lambda: a.accounts.add_user("ana@acme", "acme", PASSWORD),
        lambda: b.accounts.add_user("ana@acme", "acme", PASSWORD + "!"),
        skip=1,
    )
    assert _raw(results) == [], results
    refused = [r for r in results if isinstance(r, Exception)]
    assert len(refused) == 1 and isinstance(refused[0], UsageError), results
    assert "already has an account" in str(refused[0])
    assert len(_events(a, "account_added")) == 1
    assert [r["user"] for r in a.accounts.list()] == ["ana@acme"]


def test_two_hosts_setting_one_password_at_once_both_succeed_and_the_later_one_stands(
    ledger: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = _hosts(tmp_path)
    _ready(a, b)
    a.accounts.add_user("ana@acme", "acme", PASSWORD)
    lineup = Lineup(monkeypatch, 2)
    results = lineup.race(
        lambda: a.accounts.set_password("ana@acme", "first new password"),
        lambda: b.accounts.set_password("ana@acme", "second new password"),
    )
    assert results == [{"sessions_ended": 0, "tokens_revoked": 0}] * 2, results
    assert len(_events(a, "password_set")) == 3  # the account's first, then both
    works = []
    for password in ("first new password", "second new password"):
        try:
            a.accounts.authenticate_password("ana@acme", password, client="test")
            works.append(password)
        except WardenError:
            pass
    assert len(works) == 1, works


def test_two_sign_outs_of_one_session_at_once_end_it_once(
    ledger: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = _hosts(tmp_path)
    _ready(a, b)
    a.accounts.add_user("ana@acme", "acme", PASSWORD)
    session = a.accounts.sign_in("ana@acme", PASSWORD, client="test")
    lineup = Lineup(monkeypatch, 2)
    results = lineup.race(
        lambda: a.accounts.end_session(session.session_id),
        lambda: b.accounts.end_session(session.session_id),
    )
    assert results == [None, None], results
    assert len(_events(a, "session_ended")) == 1
    with pytest.raises(WardenError):
        b.accounts.session(session.session_id)


def test_a_sign_in_ending_the_session_another_host_is_ending_starts_the_new_one(
    ledger: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A browser signs in again (its old session id given, to end it) while another host signs
    that old session out."""
    a, b = _hosts(tmp_path)
    _ready(a, b)
    a.accounts.add_user("ana@acme", "acme", PASSWORD)
    old = a.accounts.sign_in("ana@acme", PASSWORD, client="test")
    lineup = Lineup(monkeypatch)
    ended, signed_in = lineup.holding(  # the sign-out holds the row it ended (its 2nd statement)
        lambda: a.accounts.end_session(old.session_id),
        lambda: b.accounts.sign_in("ana@acme", PASSWORD, client="test", previous=old.session_id),
        statement=2,
    )
    assert _raw([ended, signed_in]) == [], (ended, signed_in)
    assert ended is None and not isinstance(signed_in, Exception), (ended, signed_in)
    assert b.accounts.session(signed_in.session_id).principal.user == "ana@acme"
    with pytest.raises(WardenError):
        b.accounts.session(old.session_id)


def test_two_hosts_revoking_one_token_at_once_both_answer_and_it_stays_revoked(
    ledger: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = _hosts(tmp_path)
    _ready(a, b)
    a.accounts.add_user("ana@acme", "acme", PASSWORD)
    issued = a.accounts.issue_token("ana@acme", timedelta(days=1))
    lineup = Lineup(monkeypatch, timeout=1)  # the first UPDATE holds the row: the other waits on it
    results = lineup.race(
        lambda: a.accounts.revoke_token(issued.token_id), lambda: b.accounts.revoke_token(issued.token_id)
    )
    assert _raw(results) == [], results
    assert all(isinstance(r, dict) and r["revoked_at"] is not None for r in results), results
    with pytest.raises(WardenError):
        b.accounts.authenticate_token(issued.secret)


# --- comments ----------------------------------------------------------------------------------


def test_two_hosts_commenting_on_one_run_at_once_keep_both_comments(
    ledger: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = _hosts(tmp_path)
    root = _waiting_root(a)
    lineup = Lineup(monkeypatch, 2)
    results = lineup.race(
        lambda: a.comment(a.principal("ana@acme"), root, "the notice is the 2024 one"),
        lambda: b.comment(b.principal("dora@acme"), root, "looks fine to me"),
    )
    assert _raw(results) == [] and not any(isinstance(r, Exception) for r in results), results
    thread = a.comments(a.principal("dora@acme"), root)
    assert sorted(c.text for c in thread) == ["looks fine to me", "the notice is the 2024 one"]
    assert len(_events(a, "comment_added")) == 2
    assert all(report.ok for report in a.verify_audit(a.principal("dora@acme")))


# --- OIDC sign-ins -----------------------------------------------------------------------------

CALLBACK = "http://127.0.0.1:9/auth/oidc/callback"


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The tests' OIDC provider on loopback, with its client secret in the environment."""
    from tests.server._oidc_provider import CLIENT_SECRET, running_provider
    from tests.server.conftest import free_port

    monkeypatch.setenv("WARDEN_TEST_OIDC_SECRET", CLIENT_SECRET)
    with running_provider(free_port()) as found:
        yield found


def _oidc_hosts(tmp_path: Path, provider: Any) -> list[Service]:
    from tests.server._oidc_provider import CLIENT_ID

    def oidc(data: dict[str, Any]) -> None:
        data["oidc"] = {
            "name": "Test IdP",
            "issuer": provider.issuer,
            "client_id": CLIENT_ID,
            "client_secret_env": "WARDEN_TEST_OIDC_SECRET",
            "scopes": ["openid", "email"],
            "user_claim": "email",
            "match": "email",
        }

    hosts = _hosts(tmp_path, policy=policy_copy(tmp_path, tweak=oidc))
    _ready(*hosts)
    return hosts


def test_two_sign_ins_begun_at_once_while_an_expired_one_lingers_both_begin(
    ledger: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, provider: Any
) -> None:
    import warden.service.oidc as oidc

    a, b = _oidc_hosts(tmp_path, provider)
    monkeypatch.setattr(oidc, "OIDC_REQUEST_TTL", timedelta(minutes=-1))
    a.accounts.oidc.begin(CALLBACK)  # abandoned long ago: the next sign-ins drop it
    monkeypatch.setattr(oidc, "OIDC_REQUEST_TTL", timedelta(minutes=10))
    lineup = Lineup(monkeypatch, 2, timeout=1)
    results = lineup.race(lambda: a.accounts.oidc.begin(CALLBACK), lambda: b.accounts.oidc.begin(CALLBACK))
    assert _raw(results) == [] and not any(isinstance(r, Exception) for r in results), results
    assert a.store.query("SELECT count(*) AS n FROM oidc_requests") == [{"n": 2}]


def test_one_sign_in_coming_back_twice_at_once_signs_in_once_and_refuses_the_replay(
    ledger: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, provider: Any
) -> None:
    import httpx

    a, b = _oidc_hosts(tmp_path, provider)
    provider.identity = {"sub": "sub-dora", "email": "dora@acme.test", "email_verified": True}
    start = a.accounts.oidc.begin(CALLBACK)
    back = httpx.get(start.url, follow_redirects=False)
    assert back.status_code == 302, back.text
    query = parse_qs(urlsplit(back.headers["location"]).query)
    state, code = query["state"][0], query["code"][0]
    lineup = Lineup(monkeypatch, 2, timeout=1)
    results = lineup.race(
        lambda: a.accounts.oidc.complete(state=state, code=code, browser_state=state, client="tab 1"),
        lambda: b.accounts.oidc.complete(state=state, code=code, browser_state=state, client="tab 2"),
    )
    assert _raw(results) == [], results
    refused = [r for r in results if isinstance(r, Exception)]
    assert len(refused) == 1 and getattr(refused[0], "code", None) == "oidc_state", results
    [session] = [r for r in results if not isinstance(r, Exception)]
    assert session.principal.user == "dora@acme"
    assert len(_events(a, "sign_in_succeeded")) == 1
    assert provider.token_requests == 1, "the code was exchanged once"


# --- the embedded engine's writes outside nodes ------------------------------------------------


def test_a_resume_settling_a_waiting_tree_while_another_host_delivers_its_notice_settles_it(
    ledger: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with webhook_server() as hooks:
        policy = policy_copy(tmp_path, webhook_url=hooks.url)
        a, b = _hosts(tmp_path, shared_home=True, policy=policy)
        c = _hosts(tmp_path / "other", 1, policy=policy)[0]
        root = _waiting_root(a)
        lineup = Lineup(monkeypatch)
        # the resume's second write transaction (after reopening) marks the run waiting again
        resumed, delivered = lineup.overtaken(
            lambda: b.resume(b.principal("ana@acme"), root), c.deliver_notifications, skip=1
        )
        assert _raw([resumed, delivered]) == [], (resumed, delivered)
        assert not isinstance(resumed, Exception) and resumed.status == "waiting_approval", resumed
        assert [w["run_id"] for w in resumed.waiting] == [root]
        assert delivered.sent == 1 and len(hooks.received) == 1
        assert a.deliver_notifications().sent == 0, "the notice is not sent again"


@pytest.mark.parametrize("claimed_when", ["before the resume settles", "after its snapshot"])
def test_a_resume_racing_a_decision_leaves_the_claimed_run_to_its_decider(
    ledger: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, claimed_when: str
) -> None:
    a, b = _hosts(tmp_path, shared_home=True)
    root = _waiting_root(a)
    lineup = Lineup(monkeypatch)
    # the decision claimed (its carrying out not begun) as the resume's settling transaction
    # (its second) begins, or once that transaction took its snapshot
    resumed, claimed = lineup.overtaken(
        lambda: b.resume(b.principal("ana@acme"), root),
        lambda: a.claim_decision(a.principal("dora@acme"), root, "approve", role="dpo"),
        skip=1,
        before=claimed_when.startswith("before"),
    )
    assert not isinstance(claimed, Exception), claimed
    assert isinstance(resumed, RunBusy), resumed
    [row] = a.store.query("SELECT status, claimed_by FROM runs WHERE run_id = ?", [root])
    assert row["status"] == "running" and row["claimed_by"], "the claim stands"
    with pytest.raises(RunRefused):  # nobody decides it a second time meanwhile
        b.decide(b.principal("dora@acme"), root, "approve", role="dpo")
    outcome = a.carry_out(claimed)
    assert outcome.waiting and outcome.waiting[0]["run_id"] != root, outcome
    assert len(_events(a, "approval:approve")) == 1


# --- races that were already safe --------------------------------------------------------------


def test_two_approvers_deciding_one_run_at_once_one_decides_and_the_other_is_refused(
    ledger: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = _hosts(tmp_path, shared_home=True)
    root = _waiting_root(a)
    lineup = Lineup(monkeypatch, timeout=1)
    results = lineup.race(
        lambda: a.decide(a.principal("dora@acme"), root, "approve", role="dpo"),
        lambda: b.decide(b.principal("dora@acme"), root, "approve", role="dpo"),
    )
    assert _raw(results) == [], results
    refused = [r for r in results if isinstance(r, Exception)]
    assert len(refused) == 1 and isinstance(refused[0], RunRefused), results
    assert len(_events(a, "approval:approve")) == 1


def test_an_sla_escalation_racing_the_decision_of_its_run_fails_neither(
    ledger: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = policy_copy(tmp_path, sla="1h", escalate_to="admin")
    a, b = _hosts(tmp_path, shared_home=True, policy=policy)
    root = _waiting_root(a)
    later = datetime.now(UTC).replace(tzinfo=None) + timedelta(hours=2)
    lineup = Lineup(monkeypatch)
    escalated, decided = lineup.race(
        lambda: a.escalate_overdue(now=later),
        lambda: b.decide(b.principal("dora@acme"), root, "approve", role="dpo"),
    )
    assert _raw([escalated, decided]) == [], (escalated, decided)
    assert not isinstance(decided, Exception), decided
    assert len(_events(a, "approval:approve")) == 1
    [row] = a.store.query("SELECT decided_at, outcome FROM approval_queue WHERE run_id = ?", [root])
    assert row["decided_at"] is not None, "the decision closed the queue row"


def test_a_deliverer_whose_lease_ran_out_while_sending_records_its_outcome_after_the_next_one(
    ledger: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A send outlasting the lease (or a host whose clock runs ahead): another host claims the
    same notice and sends it again (at-least-once), and both record what they did."""
    import warden.store.notifications as outbox
    from warden.service.notify import LEASE_S, deliver

    a, b = _hosts(tmp_path, policy=policy_copy(tmp_path, webhook_url="http://127.0.0.1:9/hook"))
    _waiting_root(a)
    at = datetime.now(UTC).replace(tzinfo=None)
    sending, claimed = threading.Event(), threading.Event()
    sent: list[str] = []
    claim_due = outbox.claim_due

    def slow_send(row: dict[str, Any], options: Any) -> None:  # outlasts its lease
        sending.set()
        claimed.wait(timeout=10)
        sent.append(row["notification_id"])

    def second_claim(con: Any, when: datetime, **kwargs: Any) -> Any:
        found = claim_due(con, when, **kwargs)
        if threading.current_thread().name == "second":  # leased, not committed yet: the first
            claimed.set()  # deliverer records its outcome meanwhile (and waits for this row)
            time.sleep(0.5)
        return found

    monkeypatch.setattr(outbox, "claim_due", second_claim)

    def second() -> Any:
        sending.wait(timeout=10)
        return deliver(b.store, lambda t, s: [], at=at + timedelta(seconds=LEASE_S + 1), send=sent_now)

    def sent_now(row: dict[str, Any], options: Any) -> None:
        sent.append(row["notification_id"])

    results: dict[str, Any] = {}

    def run(name: str, call: Callable[[], Any]) -> None:
        try:
            results[name] = call()
        except Exception as exc:
            results[name] = exc

    threads = [
        threading.Thread(
            target=run, args=("first", lambda: deliver(a.store, lambda t, s: [], at=at, send=slow_send))
        ),
        threading.Thread(target=run, args=("second", second), name="second"),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert _raw(list(results.values())) == [], results
    assert (results["first"].sent, results["second"].sent) == (1, 1), results
    assert len(sent) == 2 and len(set(sent)) == 1, "sent twice (at least once), one notice"
    [row] = a.store.query("SELECT status, attempts FROM notifications")
    assert row == {"status": "sent", "attempts": 2}
