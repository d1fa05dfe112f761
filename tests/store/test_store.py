"""The DuckDB store: idempotent writes, compare-and-set claims, lineage queries, lock waits."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from warden.errors import WardenError
from warden.schemas import Finding
from warden.store import Store, StoreBusy, approvals, audit, costs, findings, runs, steps


def _finding(fid: str, severity: str = "high") -> Finding:
    return Finding(id=fid, analyser="a", code="c", title="t", severity=severity, category="x", message="m")


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "warden.duckdb", lock_timeout_s=5)
    with s.connect() as con:
        runs.create_run(con, runs.RunRow("root", "root", None, None, 0, "root", None, "acme", "ana@acme"))
        runs.create_run(
            con, runs.RunRow("child", "root", "root", "checks", 1, "root", "ns", "acme", "ana@acme")
        )
    return s


def test_upserting_the_same_findings_twice_keeps_one_row_each(store: Store) -> None:
    for _ in range(2):
        with store.connect() as con:
            findings.upsert_findings(
                con,
                [_finding("f1"), _finding("f2", "low")],
                run_id="child",
                root_run_id="root",
                step_id="s",
                tenant="acme",
            )
    with store.connect(read_only=True) as con:
        assert [f["finding_id"] for f in findings.findings_of(con, "root")] == ["f1", "f2"]
        assert findings.findings_of(con, "child")[0]["severity"] == "high"


def test_only_one_claim_of_a_waiting_run_wins(store: Store) -> None:
    with store.connect() as con:
        runs.set_status(con, "child", "waiting_approval")
    with store.connect() as con:
        first = runs.claim(con, "child", "proc-1")
    with store.connect() as con:
        second = runs.claim(con, "child", "proc-2")
    assert (first, second) == (True, False)
    assert store.query("SELECT claimed_by FROM runs WHERE run_id = 'child'") == [{"claimed_by": "proc-1"}]


def test_a_keyed_audit_event_is_written_once(store: Store) -> None:
    for _ in range(3):
        with store.connect() as con:
            audit.audit(con, run_id="root", root_run_id="root", tenant="acme", actor="a", event="e", key="k")
    with store.connect(read_only=True) as con:
        assert len(audit.audit_of_tree(con, "root")) == 1


def test_step_attempts_count_up_on_retry(store: Store) -> None:
    with store.connect() as con:
        assert steps.start_step(con, "root", "s", kind="analyser", analyser="a", system_id=None) == 1
        assert steps.start_step(con, "root", "s", kind="analyser", analyser="a", system_id=None) == 2
        steps.finish_step(con, "root", "s", output={"x": 1}, output_schema="findings", duration_s=0.1)
        assert steps.get_step(con, "root", "s")["output"] == {"x": 1}


def test_the_step_gate_sees_the_approval_the_step_status_and_the_whole_trees_spend_and_time(
    store: Store,
) -> None:
    gate = dict(
        tenant="acme", runbook="rb", sha256="a" * 64, run_id="child", step_id="s2", root_run_id="root"
    )
    with store.connect(read_only=True) as con:
        assert steps.step_gate(con, **gate) == steps.StepGate(False, None, 0.0, 0.0)
    with store.connect() as con:
        approvals.publish_version(
            con,
            tenant="acme",
            runbook="rb",
            sha256="a" * 64,
            declared_version=1,
            definition={},
            run_id="root",
            approved_by="dora@acme",
        )
        for run_id, step_id, took in (("root", "s1", 1.5), ("child", "s2", 0.25)):
            steps.start_step(con, run_id, step_id, kind="analyser", analyser="a", system_id=None)
            steps.finish_step(con, run_id, step_id, output={}, output_schema=None, duration_s=took)
        steps.start_step(con, "child", "w", kind="workflow", analyser=None, system_id=None)
        steps.finish_step(con, "child", "w", output={}, output_schema=None, duration_s=9.0)
        costs.add_cost(
            con, entry_id="c1", run_id="child", root_run_id="root", step_id="s2", kind="llm", amount_usd=0.5
        )
    with store.connect(read_only=True) as con:
        # a workflow step's time is its child's, already counted: only analyser time adds up
        assert steps.step_gate(con, **gate) == steps.StepGate(True, "completed", 0.5, 1.75)
        assert steps.step_gate(con, **{**gate, "sha256": "b" * 64}).approved is False
        assert steps.step_gate(con, **{**gate, "tenant": "globex"}).approved is False


@pytest.mark.parametrize(
    ("amount", "tokens_in"), [(-50.0, 0), (float("nan"), 0), (float("-inf"), 0), (0.1, -5)]
)
def test_a_cost_entry_that_would_credit_the_budget_is_refused_coded(
    store: Store, amount: float, tokens_in: int
) -> None:
    with pytest.raises(costs.NegativeCost) as refused, store.connect() as con:
        costs.add_cost(
            con,
            entry_id="neg",
            run_id="root",
            root_run_id="root",
            step_id="s",
            kind="llm",
            amount_usd=amount,
            tokens_in=tokens_in,
        )
    assert refused.value.code == "negative_cost" and refused.value.fix
    with store.connect(read_only=True) as con:
        assert costs.tree_cost(con, "root") == 0


def test_a_failed_transaction_leaves_nothing_behind(store: Store) -> None:
    with pytest.raises(RuntimeError), store.connect() as con:
        findings.upsert_findings(
            con, [_finding("f9")], run_id="root", root_run_id="root", step_id="s", tenant="acme"
        )
        raise RuntimeError("crash mid-write")
    assert store.query("SELECT count(*) AS n FROM findings") == [{"n": 0}]


def test_a_writer_waits_for_another_process_holding_the_lock(store: Store) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            import duckdb, time, sys
            con = duckdb.connect({str(store.path)!r})
            print("locked", flush=True)
            time.sleep(1.0)
            con.close()
        """),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    with store.connect() as con:  # blocks until the holder exits, then succeeds
        runs.set_status(con, "root", "completed")
    holder.wait(timeout=10)
    assert store.query("SELECT status FROM runs WHERE run_id = 'root'") == [{"status": "completed"}]


@pytest.mark.duckdb_only
def test_a_lock_held_past_the_timeout_is_a_clear_error(store: Store) -> None:
    impatient = Store(store.path, lock_timeout_s=0.3)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, time; c = duckdb.connect({str(store.path)!r}); "
            "print('locked', flush=True); time.sleep(3)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(StoreBusy), impatient.connect():
            pass
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.duckdb_only
def test_reading_a_missing_database_names_the_fix(tmp_path: Path) -> None:
    with (
        pytest.raises(WardenError, match="WARDEN_HOME"),
        Store(tmp_path / "none.duckdb").connect(read_only=True),
    ):
        pass
