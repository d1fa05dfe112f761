"""The audit hash chain: events written through the real store to a real DuckDB file, then
tampered with directly in SQL; `verify_chain` and `warden audit verify` must name each kind of
tampering at the right event, and the stand-alone check of docs/AUDIT.md must agree."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest
from tests.store._setup import put_policy_in_force

from warden.store import Store, audit, runs
from warden.store.audit import GENESIS, event_hash, verify_chain
from warden.store.schema import SCHEMA_VERSION

REPO = Path(__file__).resolve().parents[2]
POLICY = REPO / "fixtures" / "acme" / "policy.yaml"

# (run, event) of acme's chain in order; chain_no = index + 1. None: a tenant-level event.
ACME = [
    ("a1", "run_requested"),
    ("a1", "runbook_drafted"),
    ("a1.checks", "run_requested"),
    ("a1", "step_completed"),
    ("a1.checks", "step_completed"),
    (None, "policy_applied"),
    ("a2", "run_requested"),
    ("a2", "step_completed"),
    ("a1", "run_finished"),
]
GLOBEX = [("g1", "run_requested"), ("g1", "step_completed"), ("g1", "run_finished")]
ROOTS = {"a1": "a1", "a1.checks": "a1", "a2": "a2", "g1": "g1", None: None}


@dataclass
class Chains:
    home: Path
    store: Store

    @property
    def path(self) -> Path:
        return self.home / "warden.duckdb"

    def sql(self, *statements: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        """Tamper as an attacker with the file (or the Postgres ledger) would: plain SQL, no
        Warden code."""
        url = os.environ.get("WARDEN_LEDGER_URL")
        if url:
            import psycopg

            with psycopg.connect(url, autocommit=True) as pg:
                out_pg: list[tuple[Any, ...]] = []
                for s in statements:
                    cur = pg.execute(re.sub(r"\?|\$\d+", "%s", s), params or [])
                    out_pg = cur.fetchall() if cur.description else []
                return out_pg
        con = duckdb.connect(str(self.path))
        try:
            out: list[tuple[Any, ...]] = []
            for s in statements:
                out = con.execute(s, params or []).fetchall()
            return out
        finally:
            con.close()

    def row(self, tenant: str, chain_no: int) -> dict[str, Any]:
        with self.store.connect(read_only=True) as con:
            cur = con.execute(
                "SELECT * FROM audit_events WHERE tenant = ? AND chain_no = ?", [tenant, chain_no]
            )
            cols = [d[0] for d in cur.description]
            return dict(zip(cols, cur.fetchone(), strict=True))

    def verify(self, tenant: str = "acme", **kw: Any) -> audit.ChainReport:
        with self.store.connect(read_only=True) as con:
            return verify_chain(con, tenant, **kw)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("WARDEN_") or k == "WARDEN_LEDGER_URL"}
        env.update(WARDEN_HOME=str(self.home), NO_COLOR="1", COLUMNS="200")
        return subprocess.run(
            [sys.executable, "-m", "warden", "audit", *args, "--policy", str(POLICY)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )


def _append(store: Store, tenant: str, run_id: str | None, event: str, **kw: Any) -> None:
    with store.connect() as con:
        audit.audit(
            con,
            run_id=run_id,
            root_run_id=ROOTS[run_id],
            tenant=tenant,
            actor="dora@acme" if tenant == "acme" else "gil@globex",
            event=event,
            payload={"event": event, "note": "Zoë paid €5\n"},
            key=f"{run_id}:{event}",
            **kw,
        )


def _make_runs(store: Store) -> None:
    with store.connect() as con:
        put_policy_in_force(con, POLICY)
        for run_id, tenant in (("a1", "acme"), ("a2", "acme"), ("g1", "globex")):
            runs.create_run(con, runs.RunRow(run_id, run_id, None, None, 0, run_id, None, tenant, "ana@acme"))
        runs.create_run(
            con, runs.RunRow("a1.checks", "a1", "a1", "checks", 1, "a1", "ns", "acme", "ana@acme")
        )


@pytest.fixture
def chains(tmp_path: Path) -> Chains:
    store = Store(tmp_path / "warden.duckdb", lock_timeout_s=10)
    _make_runs(store)
    globex = iter(GLOBEX)
    for i, (run_id, event) in enumerate(ACME):
        _append(store, "acme", run_id, event)
        if i % 3 == 1:  # the tenants' events interleave in seq
            _append(store, "globex", *next(globex))
    return Chains(tmp_path, store)


def test_an_untouched_chain_verifies_and_every_event_links_to_the_one_before(chains: Chains) -> None:
    report = chains.verify()
    assert report.ok and report.problem is None
    assert (report.checked, report.legacy, report.head_no) == (len(ACME), 0, len(ACME))
    prev = GENESIS
    for no in range(1, len(ACME) + 1):
        row = chains.row("acme", no)
        assert (row["run_id"], row["event"]) == ACME[no - 1]
        assert row["prev_hash"] == prev and row["hash"] == event_hash(row)
        prev = row["hash"]
    assert report.head_hash == prev and report.head == f"{len(ACME)}:{prev}"
    hashes = {chains.row("acme", no)["hash"] for no in range(1, len(ACME) + 1)}
    assert len(hashes) == len(ACME) and all(re.fullmatch("[0-9a-f]{64}", h) for h in hashes)


def test_a_tenant_level_event_has_no_run_and_is_a_link_like_any_other(chains: Chains) -> None:
    row = chains.row("acme", 6)
    assert (row["run_id"], row["root_run_id"], row["event"]) == (None, None, "policy_applied")
    assert chains.row("acme", 7)["prev_hash"] == row["hash"]


def test_a_keyed_event_appended_again_does_not_extend_the_chain(chains: Chains) -> None:
    before = chains.verify()
    for _ in range(2):
        _append(chains.store, "acme", "a1", "step_completed")
    after = chains.verify()
    assert after.ok and (after.checked, after.head) == (before.checked, before.head)
    _append(chains.store, "acme", "a2", "run_finished")
    grown = chains.verify()
    assert grown.ok and grown.head_no == before.head_no + 1
    assert chains.row("acme", grown.head_no)["prev_hash"] == before.head_hash


def test_two_tenants_have_independent_chains(chains: Chains) -> None:
    acme, globex = chains.verify("acme"), chains.verify("globex")
    assert acme.ok and globex.ok and globex.head_no == len(GLOBEX)
    assert chains.row("globex", 1)["prev_hash"] == GENESIS == chains.row("acme", 1)["prev_hash"]
    chains.sql("UPDATE audit_events SET actor = 'mallory' WHERE tenant = 'globex' AND chain_no = 2")
    assert chains.verify("acme").ok
    assert chains.verify("globex").problem.kind == "edited"  # type: ignore[union-attr]


def _rehash(chains: Chains, tenant: str, chain_no: int) -> None:
    """A tamperer who knows the algorithm recomputes the edited row's own hash."""
    row = chains.row(tenant, chain_no)
    chains.sql("UPDATE audit_events SET hash = ? WHERE seq = ?", params=[event_hash(row), row["seq"]])


def _seq(chains: Chains, chain_no: int) -> int:
    return chains.row("acme", chain_no)["seq"]


def _forge(chains: Chains, *, chain_no: int, prev_hash: str, seq: int | None = None, good_hash: bool) -> None:
    """Insert a made-up acme event (seq: the next free one unless given)."""
    seq = seq if seq is not None else chains.sql("SELECT max(seq) + 1 FROM audit_events")[0][0]
    row = {
        "seq": seq,
        "event_key": "forged",
        "run_id": "a1",
        "root_run_id": "a1",
        "tenant": "acme",
        "at": chains.row("acme", 1)["at"],
        "actor": "dora@acme",
        "event": "approval:approve",
        "payload_json": '{"forged": true}',
        "chain_no": chain_no,
        "prev_hash": prev_hash,
    }
    row["hash"] = event_hash(row) if good_hash else "f" * 64
    cols = ", ".join(f'"{c}"' for c in row)
    chains.sql(
        f"INSERT INTO audit_events ({cols}) VALUES ({', '.join('?' * len(row))})", params=list(row.values())
    )


def _swap_seq(chains: Chains, a: int, b: int) -> None:
    sa, sb = _seq(chains, a), _seq(chains, b)
    chains.sql(
        f"UPDATE audit_events SET seq = -1 WHERE seq = {sa}",
        f"UPDATE audit_events SET seq = {sa} WHERE seq = {sb}",
        f"UPDATE audit_events SET seq = {sb} WHERE seq = -1",
    )


def _delete(chains: Chains, chain_no: int) -> None:
    chains.sql(f"DELETE FROM audit_events WHERE tenant = 'acme' AND chain_no = {chain_no}")


def _spread_seqs(chains: Chains) -> None:
    """Make room between seqs, so a forged row can sit in the middle of the chain."""
    chains.sql("UPDATE audit_events SET seq = seq * 10 + 1000", "UPDATE audit_events SET seq = seq - 1000")


# name -> (tamper, kind, chain_no reported, the chain_no whose row the problem is named at)
TAMPERS: dict[str, tuple[Callable[[Chains], Any], str, int | None, int | None]] = {
    "edit a payload": (
        lambda c: c.sql("""UPDATE audit_events SET payload_json = '{"event": "x"}' WHERE chain_no = 4
                           AND tenant = 'acme'"""),
        "edited",
        4,
        4,
    ),
    "edit an actor": (
        lambda c: c.sql("UPDATE audit_events SET actor = 'mallory' WHERE tenant = 'acme' AND chain_no = 5"),
        "edited",
        5,
        5,
    ),
    "edit a time": (
        lambda c: c.sql(
            """UPDATE audit_events SET "at" = "at" + INTERVAL '1 second'
               WHERE tenant = 'acme' AND chain_no = 2"""
        ),
        "edited",
        2,
        2,
    ),
    "edit a payload and re-hash the row": (
        lambda c: (
            c.sql("UPDATE audit_events SET payload_json = '{}' WHERE tenant = 'acme' AND chain_no = 3"),
            _rehash(c, "acme", 3),
        ),
        "edited",
        3,
        3,
    ),
    "delete a middle row": (lambda c: _delete(c, 5), "deleted", 5, 6),
    "delete two middle rows": (lambda c: (_delete(c, 4), _delete(c, 5)), "deleted", 4, 6),
    "delete the first row": (lambda c: _delete(c, 1), "deleted", 1, 2),
    "insert a forged row with a made-up hash at the end": (
        lambda c: _forge(c, chain_no=99, prev_hash="e" * 64, good_hash=False),
        "inserted",
        99,
        99,
    ),
    "insert a well-hashed forged row that branches off an earlier event": (
        lambda c: _forge(c, chain_no=len(ACME) + 1, prev_hash=c.row("acme", 2)["hash"], good_hash=True),
        "inserted",
        len(ACME) + 1,
        len(ACME) + 1,
    ),
    "insert a forged row in the middle of the chain": (
        lambda c: (
            _spread_seqs(c),
            _forge(c, chain_no=50, prev_hash="e" * 64, seq=_seq(c, 4) + 1, good_hash=True),
        ),
        "inserted",
        50,
        50,
    ),
    "drop the unique index and insert a copy of an event with another payload": (
        lambda c: (
            c.sql("DROP INDEX audit_chain"),
            _forge(c, chain_no=3, prev_hash=c.row("acme", 2)["hash"], good_hash=True),
        ),
        "inserted",
        3,
        None,  # the forged row: not found by chain_no (two rows hold 3)
    ),
    "remove a row's chain values": (
        lambda c: c.sql(
            """UPDATE audit_events SET chain_no = NULL, prev_hash = NULL, hash = NULL
               WHERE tenant = 'acme' AND chain_no = 7"""
        ),
        "inserted",
        None,
        None,
    ),
    "swap two rows' seq": (lambda c: _swap_seq(c, 3, 6), "reordered", 6, 6),
    "swap two neighbours' seq": (lambda c: _swap_seq(c, 7, 8), "reordered", 8, 8),
}


def _expected_seq(chains: Chains, at_no: int | None) -> int:
    """The seq of the row a problem should be named at: by chain_no, else the forged or unchained row."""
    if at_no is not None:
        return _seq(chains, at_no)
    return chains.sql("SELECT max(seq) FROM audit_events WHERE event_key = 'forged' OR chain_no IS NULL")[0][
        0
    ]


@pytest.mark.parametrize("name", list(TAMPERS))
def test_verify_names_each_kind_of_tampering_at_the_right_event(chains: Chains, name: str) -> None:
    tamper, kind, chain_no, at_no = TAMPERS[name]
    assert chains.verify().ok
    tamper(chains)
    report = chains.verify(root_run_id="a1")
    problem = report.problem
    assert problem is not None, name
    assert (problem.kind, problem.chain_no) == (kind, chain_no), (name, problem)
    want_seq = _expected_seq(chains, at_no)
    assert problem.seq == want_seq, (name, problem)
    with chains.store.connect(read_only=True) as con:
        row = con.execute("SELECT event, run_id FROM audit_events WHERE seq = ?", [want_seq]).fetchone()
    assert (problem.event, problem.run_id) == row, (name, problem)
    assert report.touches_run is (None if kind == "deleted" else problem.root_run_id == "a1")

    # one subprocess per case (the machine is shared): the text names kind, seq, chain_no, event
    # and run; the JSON form of a problem is checked in the run-tree test below
    text = chains.cli("verify", "a1", "--as", "dora@acme")
    assert text.returncode == 1, text.stderr
    named = (
        f"{kind.upper()} at seq {want_seq}, chain_no {chain_no or '-'} (event {row[0]}, run {row[1] or '-'})"
    )
    assert named in text.stdout, text.stdout


def test_a_deleted_tail_changes_the_head_and_only_an_anchor_catches_it(chains: Chains) -> None:
    anchored = chains.verify()
    _delete(chains, len(ACME))
    after = chains.verify()
    assert after.ok, "the chain alone cannot see its own last events deleted"
    assert after.head != anchored.head and after.head_no == len(ACME) - 1
    caught = chains.verify(anchor=anchored.head)
    assert caught.problem is not None
    assert (caught.problem.kind, caught.problem.chain_no) == ("deleted", len(ACME))
    bare = chains.verify(anchor=anchored.head_hash)
    assert bare.problem is not None and bare.problem.kind == "deleted"

    done = chains.cli("verify", "a2", "--as", "dora@acme", "--head", anchored.head)
    assert done.returncode == 1 and f"DELETED at seq -, chain_no {len(ACME)}" in done.stdout, done.stdout
    assert chains.cli("verify", "a2", "--as", "dora@acme", "--head", after.head).returncode == 0


def test_an_anchor_passes_as_the_chain_grows_and_catches_a_rewritten_tail(chains: Chains) -> None:
    anchored = chains.verify()
    _append(chains.store, "acme", "a2", "run_finished")
    assert chains.verify(anchor=anchored.head).ok, "events after the anchor are normal growth"
    last = len(ACME) + 1
    chains.sql(f"UPDATE audit_events SET actor = 'mallory' WHERE tenant = 'acme' AND chain_no = {last - 1}")
    for no in (last - 1, last):  # the whole tail rewritten, every hash recomputed in order
        if no == last:
            chains.sql(
                "UPDATE audit_events SET prev_hash = $1 WHERE tenant = 'acme' AND chain_no = $2",
                params=[chains.row("acme", no - 1)["hash"], no],
            )
        _rehash(chains, "acme", no)
    assert chains.verify().ok, "a rewrite to the head verifies without an anchor"
    caught = chains.verify(anchor=anchored.head)
    assert caught.problem is not None
    assert (caught.problem.kind, caught.problem.chain_no) == ("edited", anchored.head_no)


def test_verify_of_a_run_says_whether_the_problem_is_in_its_tree(chains: Chains) -> None:
    chains.sql("UPDATE audit_events SET actor = 'mallory' WHERE tenant = 'acme' AND chain_no = 7")  # a2's
    of_a1, of_a2 = chains.verify(root_run_id="a1"), chains.verify(root_run_id="a2")
    assert of_a1.problem == of_a2.problem and of_a1.problem is not None and of_a1.problem.run_id == "a2"
    assert (of_a1.touches_run, of_a2.touches_run) == (False, True)
    assert (of_a1.run_events, of_a2.run_events) == (6, 2)
    done = chains.cli("verify", "a1.checks", "--as", "dora@acme")
    assert done.returncode == 1 and "it is not an event of run tree a1" in done.stdout, done.stdout
    as_json = chains.cli("verify", "a2", "--as", "dora@acme", "--json")
    (report,) = json.loads(as_json.stdout)
    assert as_json.returncode == 1 and report["ok"] is False and report["touches_run"] is True
    seq = chains.row("acme", 7)["seq"]
    assert {k: report["problem"][k] for k in ("kind", "chain_no", "seq", "event", "run_id")} == {
        "kind": "edited",
        "chain_no": 7,
        "seq": seq,
        "event": "run_requested",
        "run_id": "a2",
    }


def test_the_cli_verifies_every_chain_of_the_users_tenants_and_prints_the_head(chains: Chains) -> None:
    report = chains.verify()
    done = chains.cli("verify", "--as", "dora@acme")
    assert done.returncode == 0, done.stderr
    assert f"tenant acme: intact, {len(ACME)} event(s) checked" in done.stdout
    assert f"head {report.head}" in done.stdout and "globex" not in done.stdout
    one = chains.cli("verify", "a1", "--as", "dora@acme", "--json")
    (as_json,) = json.loads(one.stdout)
    assert one.returncode == 0 and as_json["ok"] and as_json["head_hash"] == report.head_hash
    assert (as_json["checked"], as_json["run_events"], as_json["root_run_id"]) == (len(ACME), 6, "a1")


def test_verify_without_a_principal_or_for_a_stranger_is_a_usage_error_that_shows_nothing(
    chains: Chains,
) -> None:
    nobody = chains.cli("verify")
    assert nobody.returncode == 2 and "(no_principal)" in nobody.stderr
    stranger, stranger_run = (
        chains.cli("verify", "--as", "mallory@nowhere"),
        chains.cli("verify", "a1", "--as", "mallory@nowhere"),
    )
    assert stranger.returncode == stranger_run.returncode == 2
    assert "'mallory@nowhere' is not a user of any tenant" in stranger.stderr
    assert "(unknown_user)" in stranger.stderr
    assert stranger.stderr == stranger_run.stderr
    other = chains.cli("verify", "a1", "--as", "gil@globex")
    unknown = chains.cli("verify", "abc123", "--as", "gil@globex")
    assert other.returncode == unknown.returncode == 2
    assert other.stderr.replace("a1", "RUN") == unknown.stderr.replace("abc123", "RUN")
    bad_head = chains.cli("verify", "a1", "--as", "dora@acme", "--head", "nonsense")
    assert bad_head.returncode == 2 and "CHAIN_NO:HASH" in bad_head.stderr
    for done in (nobody, stranger, other, unknown, bad_head):
        assert done.stdout == "" and "Traceback" not in done.stderr


@pytest.mark.duckdb_only
def test_concurrent_appends_to_one_tenant_cannot_fork_the_chain(chains: Chains) -> None:
    con = duckdb.connect(str(chains.path))
    try:
        first, second = con.cursor(), con.cursor()
        for cur in (first, second):
            cur.execute("BEGIN TRANSACTION")
        for cur, event in ((first, "one"), (second, "two")):  # both read the same head
            audit.audit(cur, run_id="a2", root_run_id="a2", tenant="acme", actor="x", event=event)
        first.execute("COMMIT")
        with pytest.raises(duckdb.Error, match=r"(?i)constraint|conflict"):
            second.execute("COMMIT")
    finally:
        con.close()
    report = chains.verify()
    assert report.ok and report.head_no == len(ACME) + 1


def _auditor_script() -> dict[str, Any]:
    """The stand-alone script of docs/AUDIT.md, run as written."""
    doc = (REPO / "docs" / "AUDIT.md").read_text(encoding="utf-8")
    (code,) = re.findall(r"```python\n(.*?)```", doc, flags=re.S)
    namespace: dict[str, Any] = {"__name__": "auditor"}
    exec(compile(code, "docs/AUDIT.md", "exec"), namespace)
    return namespace


def _auditor_check() -> Callable[[list[str]], list[str]]:
    return _auditor_script()["check_export"]  # type: ignore[no-any-return]


def _auditor_hash() -> Callable[[dict[str, Any]], str]:
    return _auditor_script()["event_hash"]  # type: ignore[no-any-return]


def test_the_export_carries_the_chain_and_the_documented_script_verifies_it(chains: Chains) -> None:
    done = chains.cli("a1", "--as", "dora@acme")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["chain_no"] for r in records] == [1, 2, 3, 4, 5, 9]
    for r in records:
        row = chains.row("acme", r["chain_no"])
        assert (r["hash"], r["prev_hash"], r["event_key"]) == (
            row["hash"],
            row["prev_hash"],
            row["event_key"],
        )
    check = _auditor_check()
    assert check(lines) == []

    edited = dict(records[1], actor="mallory")
    assert check([lines[0], json.dumps(edited), *lines[2:]]) == [
        f"seq {edited['seq']} chain_no 2 (runbook_drafted): edited, its content does not match its hash"
    ]
    rewritten = dict(records[3], actor="mallory")  # chain_no 4, re-hashed: chain_no 5 no longer links
    rewritten["hash"] = _auditor_hash()(rewritten)
    assert check([*lines[:3], json.dumps(rewritten), *lines[4:]]) == [
        f"seq {records[4]['seq']} chain_no 5 (step_completed): broken link, "
        "the event before it was edited, deleted or replaced"
    ]
    swapped = check([*lines[:2], lines[3], lines[2], *lines[4:]])
    assert any("chain_no does not increase" in p for p in swapped)
    csv_done = chains.cli("a1", "--as", "dora@acme", "--format", "csv")
    header = csv_done.stdout.splitlines()[0].split(",")
    assert {"chain_no", "prev_hash", "hash", "payload_sha256", "event_key"} <= set(header)


@pytest.mark.duckdb_only
def test_a_schema_1_file_gains_the_chain_and_its_old_rows_count_as_legacy(tmp_path: Path) -> None:
    path = tmp_path / "warden.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
    con.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    con.execute("CREATE SEQUENCE audit_seq START 1")
    con.execute(
        """CREATE TABLE audit_events (
            seq BIGINT PRIMARY KEY DEFAULT nextval('audit_seq'),
            event_key VARCHAR UNIQUE,
            run_id VARCHAR NOT NULL,
            root_run_id VARCHAR NOT NULL,
            tenant VARCHAR NOT NULL,
            "at" TIMESTAMP NOT NULL,
            actor VARCHAR NOT NULL,
            event VARCHAR NOT NULL,
            payload_json VARCHAR NOT NULL
        )"""
    )
    con.execute("CREATE INDEX audit_root ON audit_events (root_run_id)")
    for i in range(2):
        con.execute(
            """INSERT INTO audit_events
                   (event_key, run_id, root_run_id, tenant, "at", actor, event, payload_json)
               VALUES (?, 'old', 'old', 'acme', now(), 'ana@acme', 'run_requested', '{}')""",
            [f"old:{i}"],
        )
    con.close()

    store = Store(path, lock_timeout_s=10)
    with store.connect() as con:
        audit.audit(
            con, run_id="new", root_run_id="new", tenant="acme", actor="ana@acme", event="e1", key="k1"
        )
        audit.audit(con, run_id=None, root_run_id=None, tenant="acme", actor="admin", event="policy_applied")
    with store.connect(read_only=True) as con:
        report = verify_chain(con, "acme")
        version = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        nullable = dict(
            con.execute(
                """SELECT column_name, is_nullable FROM information_schema.columns
                   WHERE table_name = 'audit_events'"""
            ).fetchall()
        )
        indexes = {r[0] for r in con.execute("SELECT index_name FROM duckdb_indexes()").fetchall()}
    assert report.ok and (report.legacy, report.checked, report.head_no) == (2, 2, 2)
    assert version == (str(SCHEMA_VERSION),)  # upgraded to the current schema
    assert nullable["run_id"] == nullable["root_run_id"] == "YES"
    assert {"audit_root", "audit_chain"} <= indexes
    # a reopen finds nothing left to migrate, and the legacy rows are still only legacy
    again = Store(path, lock_timeout_s=10)
    with again.connect() as con:
        audit.audit(con, run_id="new", root_run_id="new", tenant="acme", actor="ana@acme", event="e2")
        assert verify_chain(con, "acme").head_no == 3
