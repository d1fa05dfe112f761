"""Attacks on the tamper-evident audit trail and on what exports data out of the ledger.

The ledger is written through the real store (tests/store/test_audit_chain.py's `chains`
fixture, DuckDB or Postgres under WARDEN_TEST_LEDGER=postgres), tampered with in plain SQL as
someone with write access to the file (or the database) would, and then read back through
the real `warden` CLI in a subprocess: `warden audit verify`, `warden audit RUN` and
`warden ledger export`. A test marked xfail(strict) asserts the secure behaviour a defect
breaks; the reason names the defect.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest
from tests.attacks._cli import warden_cli
from tests.store.test_audit_chain import ACME, GLOBEX, POLICY, Chains, _append, _make_runs

from warden.store import Store, runs
from warden.store.audit import GENESIS, event_hash, verify_chain


@pytest.fixture
def chains(tmp_path: Path) -> Chains:
    """acme's and globex's chains, interleaved, as tests/store/test_audit_chain.py writes them."""
    store = Store(tmp_path / "warden.duckdb", lock_timeout_s=10)
    _make_runs(store)
    globex = iter(GLOBEX)
    for i, (run_id, event) in enumerate(ACME):
        _append(store, "acme", run_id, event)
        if i % 3 == 1:
            _append(store, "globex", *next(globex))
    return Chains(tmp_path, store)


def _cli(c: Chains, *args: str) -> Any:
    return warden_cli(c.home, POLICY, *args, timeout=120, NO_COLOR="1", COLUMNS="200")


def _insert(c: Chains, row: dict[str, Any]) -> None:
    cols = ", ".join(f'"{k}"' for k in row)
    c.sql(
        f"INSERT INTO audit_events ({cols}) VALUES ({', '.join('?' * len(row))})", params=list(row.values())
    )


def _forged(c: Chains, **over: Any) -> dict[str, Any]:
    """A made-up approval of run a1 (acme), as an attacker would write it."""
    row: dict[str, Any] = {
        "seq": c.sql("SELECT max(seq) + 1 FROM audit_events")[0][0],
        "event_key": "forged-approval",
        "run_id": "a1",
        "root_run_id": "a1",
        "tenant": "acme",
        "at": c.row("acme", 1)["at"],
        "actor": "dora@acme",
        "event": "approval:approve",
        "payload_json": '{"decision": "approve", "reason": "forged"}',
        "chain_no": None,
        "prev_hash": None,
        "hash": None,
    }
    row.update(over)
    return row


def _exported_events(c: Chains, run: str) -> list[dict[str, Any]]:
    done = _cli(c, "audit", run, "--as", "dora@acme")
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


# --- (1) the chain: forgeries `warden audit verify` still calls intact ---------------------------


def test_an_event_of_another_chain_spliced_into_a_run_tree_is_not_reported_intact(chains: Chains) -> None:
    # a fresh one-link chain of its own (genesis, correct hash), under a tenant nobody else writes,
    # naming acme's run a1: the export of a1 selects by run, verification by a1's tenant
    row = _forged(chains, tenant="acme\u200b", chain_no=1, prev_hash=GENESIS)
    row["hash"] = event_hash(row)
    _insert(chains, row)
    exported = _exported_events(chains, "a1")
    assert any(e["event_key"] == "forged-approval" for e in exported), "the forged approval is in a1's export"
    done = _cli(chains, "audit", "verify", "a1", "--as", "dora@acme")
    assert done.returncode == 1, (
        f"verify calls a1's tree intact while its export holds a forged event:\n{done.stdout}"
    )


def test_a_forged_unchained_row_placed_before_the_chain_is_not_accepted_as_legacy(chains: Chains) -> None:
    # the ledger was created at the current schema: no row can predate the chain
    first = chains.sql("SELECT min(seq) FROM audit_events")[0][0]
    _insert(chains, _forged(chains, seq=first - 1))
    exported = _exported_events(chains, "a1")
    assert exported[0]["event_key"] == "forged-approval", "a1's export opens with the forged approval"
    done = _cli(chains, "audit", "verify", "a1", "--as", "dora@acme")
    assert done.returncode == 1, f"a forged event passes as legacy:\n{done.stdout}"


def test_a_run_whose_every_event_was_deleted_is_not_reported_intact(chains: Chains) -> None:
    with chains.store.connect() as con:
        runs.create_run(con, runs.RunRow("a3", "a3", None, None, 0, "a3", None, "acme", "ana@acme"))
    from tests.store import test_audit_chain

    test_audit_chain.ROOTS["a3"] = "a3"
    try:
        _append(chains.store, "acme", "a3", "run_requested")
        _append(chains.store, "acme", "a3", "approval:approve")
    finally:
        del test_audit_chain.ROOTS["a3"]
    chains.sql("DELETE FROM audit_events WHERE root_run_id = 'a3'")
    done = _cli(chains, "audit", "verify", "a3", "--as", "dora@acme", "--json")
    (report,) = json.loads(done.stdout)
    assert report["run_events"] == 0
    assert done.returncode == 1, "a run with no run_requested event at all is reported intact"


def test_the_documented_script_flags_the_spliced_and_the_legacy_forgeries(chains: Chains) -> None:
    """Pins that docs/AUDIT.md's stand-alone script (unlike `warden audit verify`) catches both."""
    from tests.store.test_audit_chain import _auditor_check

    spliced = _forged(chains, tenant="acme\u200b", chain_no=1, prev_hash=GENESIS, event_key="spliced")
    spliced["hash"] = event_hash(spliced)
    _insert(chains, spliced)
    legacy = _forged(chains, seq=chains.sql("SELECT min(seq) FROM audit_events")[0][0] - 1)
    _insert(chains, legacy)
    done = _cli(chains, "audit", "a1", "--as", "dora@acme")
    problems = _auditor_check()(done.stdout.splitlines())
    assert any("unchained legacy event" in p for p in problems), problems
    assert any("tenant" in p for p in problems), problems


# --- (2) `warden ledger export`: who, where, and what it leaves behind ---------------------------


def test_ledger_export_is_refused_to_a_tenant_user_and_to_no_identity(chains: Chains, tmp_path: Path) -> None:
    for who in (["--as", "dora@acme"], []):
        target = tmp_path / f"out-{len(who)}-{who[-1] if who else 'none'}.duckdb"
        done = _cli(chains, "ledger", "export", "--to", str(target), *who)
        assert done.returncode == 2, (who, done.stderr)
        assert "Traceback" not in done.stderr and not target.exists(), who
        assert not list(tmp_path.glob("*.partial")), who


def test_a_ledger_export_is_an_audited_act(chains: Chains, tmp_path: Path) -> None:
    before = chains.sql("SELECT count(*) FROM audit_events")[0][0]
    done = _cli(chains, "ledger", "export", "--to", str(tmp_path / "snap.duckdb"), "--as", "adam@acme")
    assert done.returncode == 0, done.stderr
    after = chains.sql("SELECT actor, event FROM audit_events ORDER BY seq")
    assert len(after) > before, "nothing on any chain records that adam@acme exported the whole ledger"
    assert any(actor == "adam@acme" and "export" in event for actor, event in after[before:])


def test_ledger_export_never_follows_or_overwrites_what_is_at_the_destination(
    chains: Chains, tmp_path: Path
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    link = tmp_path / "link.duckdb"
    link.symlink_to(victim)
    done = _cli(chains, "ledger", "export", "--to", str(link), "--as", "adam@acme")
    assert done.returncode == 2 and "(export_exists)" in done.stderr, done.stderr
    assert victim.read_text() == "precious\n" and link.is_symlink()
    # a dangling link: the snapshot replaces the link itself, never writes where it points
    dangling = tmp_path / "dangling.duckdb"
    elsewhere = tmp_path / "elsewhere" / "x.duckdb"
    dangling.symlink_to(elsewhere)
    done = _cli(chains, "ledger", "export", "--to", str(dangling), "--as", "adam@acme")
    assert not elsewhere.exists(), "the export followed a dangling symlink"
    # the `.partial` name it writes first: a planted symlink there is removed, not written through
    target = tmp_path / "snap.duckdb"
    (tmp_path / "snap.duckdb.partial").symlink_to(victim)
    done = _cli(chains, "ledger", "export", "--to", str(target), "--as", "adam@acme")
    assert done.returncode == 0, done.stderr
    assert victim.read_text() == "precious\n"


def test_ledger_export_under_a_file_is_a_coded_error_not_an_internal_error(
    chains: Chains, tmp_path: Path
) -> None:
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    done = _cli(chains, "ledger", "export", "--to", str(plain / "sub" / "snap.duckdb"), "--as", "adam@acme")
    assert done.returncode == 2 and "internal error" not in done.stderr, (done.returncode, done.stderr)


def test_ledger_export_to_a_directory_or_an_existing_file_is_refused(chains: Chains, tmp_path: Path) -> None:
    existing = tmp_path / "old.duckdb"
    existing.write_bytes(b"older snapshot")
    for target in (existing,):
        done = _cli(chains, "ledger", "export", "--to", str(target), "--as", "adam@acme")
        assert done.returncode == 2 and "(export_exists)" in done.stderr, done.stderr
    assert existing.read_bytes() == b"older snapshot"


@pytest.mark.duckdb_only
def test_the_snapshot_leaves_the_decision_key_out_and_its_chains_still_verify(
    chains: Chains, tmp_path: Path
) -> None:
    from warden.store.keys import DECISION_KEY, decision_key

    with chains.store.connect() as con:
        decision_key(con)
    target = tmp_path / "snap.duckdb"
    done = _cli(chains, "ledger", "export", "--to", str(target), "--as", "adam@acme")
    assert done.returncode == 0, done.stderr
    con = duckdb.connect(str(target), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM meta WHERE key = ?", [DECISION_KEY]).fetchone() == (0,)
    finally:
        con.close()
    # the snapshot's chains verify like the ledger's (an investigator checks the copy they hold)
    snap = Store(target, lock_timeout_s=10)
    with snap.connect(read_only=True) as con:
        assert all(verify_chain(con, t).ok for t in ("acme", "globex"))


def test_the_audit_export_does_not_write_through_a_symlink_at_its_destination(
    chains: Chains, tmp_path: Path
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    link = tmp_path / "audit.jsonl"
    link.symlink_to(victim)
    _cli(chains, "audit", "a1", "--as", "dora@acme", "--out", str(link))
    assert victim.read_text() == "precious\n", "the export overwrote the symlink's target"


def test_the_snapshot_leaves_live_sign_in_secrets_out(chains: Chains, tmp_path: Path) -> None:
    from datetime import timedelta

    from warden.store import accounts
    from warden.store._util import now

    verifier = "pkce-verifier-" + "v" * 40
    with chains.store.connect() as con:
        accounts.add_oidc_request(
            con,
            "s" * 64,
            nonce="nonce-" + "n" * 20,
            code_verifier=verifier,
            redirect_uri="https://warden.example/oidc/callback",
            expires_at=now() + timedelta(minutes=10),
        )
    target = tmp_path / "snap.duckdb"
    done = _cli(chains, "ledger", "export", "--to", str(target), "--as", "adam@acme")
    assert done.returncode == 0, done.stderr
    con = duckdb.connect(str(target), read_only=True)
    try:
        kept = con.execute("SELECT code_verifier, nonce FROM oidc_requests").fetchall()
    finally:
        con.close()
    assert not any(verifier in str(r) for r in kept), f"the snapshot holds the PKCE verifier: {kept}"
