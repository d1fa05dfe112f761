"""warden.store.known: on a held DuckDB file a flush skips its probe (keys stored, chain heads)
when this process wrote everything since, and probes again after anything else wrote: another
Store object, raw SQL, another process, a rolled-back transaction. Each test fails with a
stale head (a chain_no clash, or a chain that does not verify) or stale keys (a duplicate)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from warden.store import Store, audit, documents, is_write_conflict, known, ledger, runs
from warden.store.audit import event_hash, verify_chain

pytestmark = pytest.mark.duckdb_only

SRC = Path(__file__).resolve().parents[2] / "src" / "warden"


@pytest.fixture()
def probes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The flush probes run (the real probe, counted)."""
    calls: list[int] = []
    real = ledger._probe

    def counted(*args: Any) -> Any:
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(ledger, "_probe", counted)
    return calls


def _held(tmp_path: Path) -> Store:
    store = Store(tmp_path / "w.duckdb", url="")
    store.linger_s = 60.0  # stays open between units of work, as a long-lived process's
    return store


def _new_run(store: Store, run_id: str, tenant: str = "acme") -> None:
    with store.connect() as con:
        runs.create_run(con, runs.RunRow(run_id, run_id, None, None, 0, run_id, None, tenant, "u"), new=True)
        audit.audit(con, run_id=run_id, root_run_id=run_id, tenant=tenant, actor="u", event="run_requested")


def _records(run_id: str, lo: int, hi: int, tenant: str = "acme") -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i in range(lo, hi):
        out.append(
            ledger.step_record(
                run_id=run_id, step_id=f"s{i}", kind="analyser", analyser="a", system_id=None,
                status="completed", attempts=1, started_at=ledger.stamp(), finished_at=ledger.stamp(),
                duration_s=0.01, output={"i": i}, output_schema="findings",
            )
        )  # fmt: skip
        out.append(
            ledger.audit_record(
                run_id=run_id, root_run_id=run_id, tenant=tenant, actor="warden", event="step_completed",
                payload={"i": i}, key=f"{run_id}:s{i}:completed",
            )
        )  # fmt: skip
    return out


def _verified(store: Store, tenant: str = "acme") -> int:
    with store.connect(read_only=True) as con:
        report = verify_chain(con, tenant)
    assert report.ok, report.problem
    numbers = [
        r["chain_no"]
        for r in store.query("SELECT chain_no FROM audit_events WHERE tenant = ? ORDER BY seq", [tenant])
    ]
    assert numbers == list(range(1, len(numbers) + 1))
    return report.checked


def _raw_event(con: Any, tenant: str, key: str) -> None:
    """An event appended by raw SQL, correctly chained (a writer Warden's store does not know)."""
    head = con.execute(
        "SELECT chain_no, hash FROM audit_events WHERE tenant = ? ORDER BY chain_no DESC LIMIT 1", [tenant]
    ).fetchone()
    row: dict[str, Any] = {
        "event_key": key, "run_id": None, "root_run_id": None, "tenant": tenant,
        "at": ledger.now().replace(microsecond=0), "actor": "raw", "event": "raw", "payload_json": "{}",
        "chain_no": (head[0] if head else 0) + 1, "prev_hash": head[1] if head else audit.GENESIS,
    }  # fmt: skip
    row["hash"] = event_hash(row)
    con.execute(
        f"INSERT INTO audit_events ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})".replace(
            "at,", '"at",'
        ),
        list(row.values()),
    )


def test_a_new_runs_flushes_on_a_held_file_read_nothing_and_stay_idempotent(tmp_path, probes) -> None:
    store = _held(tmp_path)
    with store.hold():
        _new_run(store, "r1")
        for lo in range(0, 12, 3):
            with store.connect() as con:
                ledger.flush(con, _records("r1", lo, lo + 3))
        assert probes == []  # the run is this process's: its keys and the chain head are known
        with store.connect() as con:  # the same records again (a node run twice): nothing new
            again = ledger.flush(con, _records("r1", 3, 9))
        assert again == {("r1", f"s{i}") for i in range(3, 9)}  # known stored: upserted
        assert probes == []
    assert store.query("SELECT count(*) AS n FROM steps")[0]["n"] == 12
    assert _verified(store) == 13
    store.close()


def test_a_run_not_created_here_is_probed(tmp_path, probes) -> None:
    """A run created with ON CONFLICT (it may have existed) is not known whole: its keys are read."""
    store = _held(tmp_path)
    with store.hold():
        with store.connect() as con:
            runs.create_run(con, runs.RunRow("r1", "r1", None, None, 0, "r1", None, "acme", "u"))
            ledger.flush(con, _records("r1", 0, 2))
        with store.connect() as con:
            ledger.flush(con, _records("r1", 0, 4))
        assert len(probes) == 2
    assert store.query("SELECT count(*) AS n FROM steps")[0]["n"] == 4
    assert _verified(store) == 4
    store.close()


def test_another_store_object_writing_between_two_flushes(tmp_path, probes) -> None:
    store = _held(tmp_path)
    other = Store(store.path, url="")  # another Store on the same file, in this process
    with store.hold():
        _new_run(store, "r1")
        with store.connect() as con:
            ledger.flush(con, _records("r1", 0, 2))
        with other.connect() as con:
            audit.audit(con, run_id=None, root_run_id=None, tenant="acme", actor="x", event="other")
        with other.connect() as con:  # and raw SQL through it
            _raw_event(con, "acme", "raw-1")
        with store.connect() as con:
            ledger.flush(con, _records("r1", 2, 4))
        assert probes  # read again
    assert _verified(store) == 1 + 4 + 2
    store.close()


def test_raw_sql_through_the_same_store_between_two_flushes(tmp_path, probes) -> None:
    store = _held(tmp_path)
    with store.hold():
        _new_run(store, "r1")
        with store.connect() as con:
            ledger.flush(con, _records("r1", 0, 2))
        with store.connect() as con:  # a writer that is not one of the store's functions
            _raw_event(con, "acme", "r1:raw")  # even with the run's key prefix
        with store.connect() as con:
            ledger.flush(con, _records("r1", 2, 4))
            ledger.flush(
                con,
                [
                    ledger.audit_record(
                        run_id="r1", root_run_id="r1", tenant="acme", actor="x", event="raw", payload=None,
                        key="r1:raw",
                    )
                ],
            )  # fmt: skip
        assert probes
    assert _verified(store) == 1 + 4 + 1  # the raw event once
    store.close()


def test_a_rolled_back_flush_leaves_no_head_or_key_behind(tmp_path, probes) -> None:
    store = _held(tmp_path)
    with store.hold():
        _new_run(store, "r1")
        with pytest.raises(RuntimeError), store.connect() as con:
            ledger.flush(con, _records("r1", 0, 3))
            raise RuntimeError("the node failed after its flush")
        with store.connect() as con:  # the same records again, and more
            ledger.flush(con, _records("r1", 0, 5))
    assert store.query("SELECT count(*) AS n FROM steps")[0]["n"] == 5
    assert _verified(store) == 1 + 5
    store.close()


def test_a_second_flush_in_one_transaction_chains_after_the_first(tmp_path, probes) -> None:
    store = _held(tmp_path)
    with store.hold():
        _new_run(store, "r1")
        with store.connect() as con:
            ledger.flush(con, _records("r1", 0, 2))
            ledger.flush(con, _records("r1", 1, 4))
            audit.audit(con, run_id="r1", root_run_id="r1", tenant="acme", actor="x", event="done")
        assert probes == []
    assert _verified(store) == 1 + 4 + 1
    store.close()


_OTHER_PROCESS = """
import sys
from warden.store import Store, audit
s = Store(sys.argv[1], url="")
with s.connect() as con:
    for i in range(3):
        audit.audit(con, run_id=None, root_run_id=None, tenant="acme", actor="o", event=f"other{i}")
"""


def test_another_process_writing_while_the_file_is_released(tmp_path, probes) -> None:
    store = _held(tmp_path)
    with store.hold():
        _new_run(store, "r1")
        with store.connect() as con:
            ledger.flush(con, _records("r1", 0, 2))
        store.release()  # a long analyser: the file is given back
        command = [sys.executable, "-c", _OTHER_PROCESS, str(store.path)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        with store.connect() as con:
            ledger.flush(con, _records("r1", 2, 4))
        assert probes
    assert _verified(store) == 1 + 4 + 3
    store.close()


def test_another_store_committing_inside_this_transaction_loses_no_event(tmp_path, probes) -> None:
    """Another Store of this process appends while this transaction is open. Whatever the
    snapshot holds (DuckDB starts it at the first statement that touches a table: here, after
    the other's commit), the flush never forks the chain: it chains after the other's event,
    or conflicts and a retry does. (The other's commit takes this unit's knowledge, so the
    flush probes its snapshot: no conflict; the tests below pin that.)"""
    store = _held(tmp_path)
    other = Store(store.path, url="")
    with store.hold():
        _new_run(store, "r1")
        try:
            with store.connect() as con:
                with other.connect() as con2:
                    audit.audit(con2, run_id=None, root_run_id=None, tenant="acme", actor="x", event="other")
                ledger.flush(con, _records("r1", 0, 2))
        except Exception as exc:
            assert is_write_conflict(exc), exc
        with store.connect() as con:
            ledger.flush(con, _records("r1", 0, 3))
    assert store.query("SELECT count(*) AS n FROM steps")[0]["n"] == 3
    assert _verified(store) == 1 + 1 + 3
    store.close()


def test_every_sql_writer_of_the_ledger_tables_notes_what_it_writes() -> None:
    """The knowledge is only as good as its writers: every statement of src/ that writes
    ``steps``, ``findings``, ``audit_events``, ``run_documents`` or ``approvals`` is in a function that notes
    it. A new writer must note its keys and heads (warden.store.known) and be added here."""
    pattern = re.compile(
        r"(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+(steps|findings|audit_events|run_documents|approvals)\b"
        r"|insert_rows\(\s*con,\s*\"(steps|findings|audit_events|run_documents)\"",
        re.I,
    )
    found: dict[str, int] = {}
    for path in SRC.rglob("*.py"):
        hits = len(pattern.findall(path.read_text(encoding="utf-8")))
        if hits:
            found[str(path.relative_to(SRC))] = hits
    assert found == {
        "store/audit.py": 1,  # audit(): notes its head and key
        "store/ledger.py": 1,  # flush(): audit_events; steps and findings via _insert_or_upsert
        "store/steps.py": 6,  # start_step notes its key; the five UPDATEs (beat_step too) keep every key
        "store/findings.py": 1,  # upsert_findings notes its keys
        "store/documents.py": 2,  # store_document, link_documents note the run's documents
        "store/approvals.py": 1,  # record_approval notes its key
        "store/schema.py": 1,  # the schema-6 upgrade names older run_documents: no run's documents change
    }
    assert known.keep is not None


def _fingerprints(store: Store, run_id: str) -> list[str]:
    from warden.schemas.finding import Finding

    finding = Finding(id="f1", analyser="a", code="c", title="t", severity="low", category="x", message="m")
    with store.connect() as con:
        runs.create_run(con, runs.RunRow(run_id, run_id, None, None, 0, run_id, None, "acme", "u"), new=True)
        documents.link_documents(con, run_id, ["d2", "d1"])
    with store.connect() as con:
        record = ledger.findings_record(
            [finding], run_id=run_id, root_run_id=run_id, step_id="s", tenant="acme"
        )
        ledger.flush(con, [record])
    return [r["fingerprint"] for r in store.query("SELECT fingerprint FROM findings ORDER BY finding_id")]


def test_a_new_runs_documents_known_give_the_fingerprints_the_store_gives(tmp_path) -> None:
    """A finding citing no document is fingerprinted with its run's documents: read from the
    knowledge of a run created here, from ``run_documents`` otherwise; the same either way."""
    held = _held(tmp_path / "held")
    with held.hold():
        from_knowledge = _fingerprints(held, "r1")
    held.close()
    from_store = _fingerprints(Store(tmp_path / "plain" / "w.duckdb", url=""), "r1")
    assert from_knowledge == from_store and len(from_store) == 1


def test_the_oldest_runs_are_forgotten_and_then_read_again(tmp_path, probes) -> None:
    store = _held(tmp_path)
    with store.hold():
        for n in range(known._MAX_FRESH + 1):
            _new_run(store, f"r{n}")
        with store.connect() as con:
            ledger.flush(con, _records(f"r{known._MAX_FRESH}", 0, 2))  # the newest: known
        assert probes == []
        with store.connect() as con:
            ledger.flush(con, _records("r0", 0, 2))  # the oldest: forgotten, read again
        assert probes
    assert _verified(store) == known._MAX_FRESH + 1 + 4
    store.close()


def _approve(con: Any, run_id: str, approval_id: str = "a1") -> None:
    from warden.store import approvals

    approvals.record_approval(
        con, approval_id=approval_id, run_id=run_id, root_run_id=run_id, tenant="acme", decision="approve",
        approver="rule", role="dpo", auto_rule="r", auth="asserted", runbook="rb", runbook_version=1,
        runbook_sha256="s", policy_sha256="p", comment=None, change_summary="", validation_ok=True,
        validation={}, model=None,
    )  # fmt: skip


def test_an_approval_is_inserted_once_whatever_the_knowledge(tmp_path) -> None:
    """A new run's approval takes a plain INSERT (the knowledge says its id is new); the same
    approval again (a re-run node), after a rolled-back one, after another store object wrote
    it, is stored once and the insert does not fail on the approval's key."""
    store = _held(tmp_path)
    with store.hold():
        _new_run(store, "r1")
        with store.connect() as con:
            knows = known.of(con)
            assert knows is not None and knows.knows_run("r1") and ("r1", "a1") not in knows.approvals
            _approve(con, "r1")
            assert ("r1", "a1") in knows.approvals
            _approve(con, "r1")  # the node re-run in the same transaction
        with store.connect() as con:
            _approve(con, "r1")  # a later transaction of this process
        with pytest.raises(RuntimeError), store.connect() as con:
            _approve(con, "r1", "a2")
            raise RuntimeError("the node failed after its approval")
        with store.connect() as con:
            _approve(con, "r1", "a2")
        other = Store(tmp_path / "w.duckdb", url="")
        with other.connect() as con:  # another store object writes r1's next approval first
            _approve(con, "r1", "a3")
        with store.connect() as con:
            _approve(con, "r1", "a3")
    found = store.query("SELECT approval_id, count(*) AS n FROM approvals GROUP BY approval_id ORDER BY 1")
    assert [(r["approval_id"], r["n"]) for r in found] == [("a1", 1), ("a2", 1), ("a3", 1)]
    store.close()


# -- more than one writing Store per file in one process ------------------------------------------
# Every Service builds its own Store, so one process can hold several on one DuckDB file: two
# in-process servers (the test session's), a server and a CLI command run in-process, a worker
# and a Service of the test. DuckDB gives them one database (its instance cache), and a
# transaction's snapshot starts at its first statement that reads or writes a table, not at
# its BEGIN: a commit of another Store between the two is in the snapshot.


def _step(run_id: str, step_id: str) -> dict[str, Any]:
    return _records(run_id, int(step_id[1:]), int(step_id[1:]) + 1)[0]


def test_a_snapshot_starts_at_the_first_statement_not_at_begin(tmp_path) -> None:
    """The DuckDB behaviour the tests below rely on (if it changes, they must be looked at)."""
    store = _held(tmp_path)
    other = Store(store.path, url="")
    with store.hold():
        _new_run(store, "r1")
        with store.connect() as con:
            with other.connect() as con2:
                audit.audit(con2, run_id=None, root_run_id=None, tenant="acme", actor="x", event="other")
            seen = con.execute("SELECT count(*) FROM audit_events").fetchone()[0]
        assert seen == 2
    store.close()


def test_another_stores_event_between_begin_and_the_first_statement_is_chained_to(tmp_path, probes) -> None:
    """Another Store of this process (a CLI command run in-process, a second server) appends to
    the tenant's chain after this unit's BEGIN and before its first statement: the snapshot has
    the other's event, so the head must not come from what this process knew at BEGIN (stale,
    it reuses the other's chain_no and the flush fails; a probe chains after it)."""
    store = _held(tmp_path)
    other = Store(store.path, url="")
    with store.hold():
        _new_run(store, "r1")
        with store.connect() as con:
            ledger.flush(con, _records("r1", 0, 2))
        with store.connect() as con:
            with other.connect() as con2:
                audit.audit(con2, run_id=None, root_run_id=None, tenant="acme", actor="x", event="other")
            ledger.flush(con, _records("r1", 2, 4))  # no conflict: nothing of this unit raced it
        with store.connect() as con:
            ledger.flush(con, _records("r1", 4, 5))
    assert _verified(store) == 1 + 2 + 1 + 3
    store.close()


def test_another_stores_step_between_begin_and_the_first_statement_is_upserted(tmp_path, probes) -> None:
    """Another Store of this process records a step of a run this process created (a second
    Service resuming it) after this unit's BEGIN: the step is in this unit's snapshot, so the
    flush must upsert it, not INSERT it as the knowledge of BEGIN's time says (a duplicate key:
    not a write conflict, nothing retries it)."""
    store = _held(tmp_path)
    other = Store(store.path, url="")
    with store.hold():
        _new_run(store, "r1")
        with store.connect() as con:
            ledger.flush(con, _records("r1", 0, 2))
        with store.connect() as con:
            with other.connect() as con2:
                ledger.flush(con2, [_step("r1", "s2")])
            stored = ledger.flush(con, [_step("r1", "s2")])
        assert stored == {("r1", "s2")}
    assert store.query("SELECT count(*) AS n FROM steps")[0]["n"] == 3
    assert _verified(store) == 1 + 2
    store.close()


def test_two_stores_in_two_threads_write_one_file_in_turns(tmp_path, probes) -> None:
    """Two Services of one process (two in-process servers, a worker and a server), each with
    its own threaded Store on one file: while one's unit of work is open, the other's waits for
    it, as another process waits for DuckDB's file lock (the audit chain, the knowledge and the
    claim of a decision rely on one writer at a time). Without that, the other's event lands
    between this unit's BEGIN and its first statement and the flush reuses its chain_no."""
    import threading

    first, second = _held(tmp_path), _held(tmp_path)
    first.threaded = second.threaded = True
    inside, other_done = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def other() -> None:
        inside.wait(10)
        try:
            with second.hold(), second.connect() as con:
                audit.audit(con, run_id=None, root_run_id=None, tenant="acme", actor="x", event="other")
        except BaseException as exc:
            errors.append(exc)
        other_done.set()

    with first.hold():
        _new_run(first, "r1")
        with first.connect() as con:
            ledger.flush(con, _records("r1", 0, 2))
        thread = threading.Thread(target=other)
        thread.start()
        with first.connect() as con:
            inside.set()
            assert not other_done.wait(1.0)  # it waits for this unit of work
            ledger.flush(con, _records("r1", 2, 4))
        thread.join(30)
        assert other_done.is_set() and not errors, errors
        with first.connect() as con:
            ledger.flush(con, _records("r1", 4, 5))
    assert _verified(first) == 1 + 4 + 1 + 1  # r1 requested, s0-s3, the other's, s4
    first.close()
    second.close()


def test_two_threaded_stores_analysing_at_once_neither_conflicts_nor_forks(tmp_path) -> None:
    """Two in-process servers' Stores on one file, each creating runs and flushing their steps
    and events to one tenant's chain at once, no retries: every unit of work commits (on main,
    ~a third failed: write-write conflicts, chain_no clashes) and the chain verifies whole."""
    import threading

    stores = [_held(tmp_path), _held(tmp_path)]
    errors: list[BaseException] = []

    def work(n: int, store: Store) -> None:
        store.threaded = True
        with store.hold():
            for k in range(8):
                try:
                    _new_run(store, f"t{n}-{k}")
                    for i in range(3):
                        with store.connect() as con:
                            ledger.flush(con, _records(f"t{n}-{k}", i, i + 1))
                except Exception as exc:
                    errors.append(exc)

    threads = [threading.Thread(target=work, args=(n, s)) for n, s in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors[:3]
    assert _verified(stores[0]) == 2 * 8 * (1 + 3)
    assert stores[0].query("SELECT count(*) AS n FROM steps")[0]["n"] == 2 * 8 * 3
    for store in stores:
        store.close()
