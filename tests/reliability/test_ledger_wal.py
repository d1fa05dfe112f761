"""The checkpoint as the ledger's write-ahead log (src/warden/graph/ledger.py).

A step's steps row, findings and audit event ride in the checkpointed graph state and reach
DuckDB in batches. What that must never cost:

- a SIGKILL after a checkpoint holding records and before they are flushed (``before:<node>``:
  the node's previous checkpoint is saved, nothing of the node has run), after a node flushed
  them and before its own checkpoint was written (``after:approval``, ``after:finish``), or
  inside a batch of pure steps run as one superstep (records made, neither checkpointed nor
  flushed): `warden resume` ends with exactly the uninterrupted run's rows, nothing lost,
  nothing twice, and the tenant's audit chain verifies;
- an exception out of the graph: the records its checkpoints hold are written before the runs
  are marked failed;
- readers (`warden findings`, `warden report`, `warden audit verify`) see every record once a
  run has ended or paused for an approval.
"""

from __future__ import annotations

import json
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from _reliability import analyse_args, auto_policy, duplicated_events, outcome, root_ids
from _wardencli import ACME_NOTICE, Warden, acme_policy_data, write_yaml

from warden.graph import nodes
from warden.graph.context import RunContext
from warden.graph.engine import EmbeddedEngine, checkpointed_ledger
from warden.service import Service
from warden.store import Store
from warden.store.audit import verify_chain

pytestmark = pytest.mark.slow

READER = "dora@acme"


def in_checkpoint(home: Path, root: str) -> list[dict[str, Any]]:
    """The ledger records the tree's last checkpoints hold (root and nested runs in flight)."""
    engine = EmbeddedEngine(home / "checkpoints.sqlite")
    graph, _ = engine._graphs()
    return checkpointed_ledger(graph, root)


def not_stored(home: Path, records: list[dict[str, Any]]) -> list[str]:
    """The records (as short descriptions) that the store does not hold as they say."""
    store = Store(home / "warden.duckdb")
    missing: list[str] = []
    for r in records:
        if r["t"] == "step":
            found = store.query(
                "SELECT status FROM steps WHERE run_id = ? AND step_id = ?", [r["run_id"], r["step_id"]]
            )
            if not found or found[0]["status"] != r["status"]:
                missing.append(f"step {r['run_id']}/{r['step_id']} {r['status']}")
        elif r["t"] == "findings":
            for row in r["rows"]:
                found = store.query(
                    "SELECT 1 FROM findings WHERE run_id = ? AND finding_id = ?", [row[0], row[1]]
                )
                if not found:
                    missing.append(f"finding {row[0]}/{row[1]}")
        elif r["t"] == "audit":
            if not store.query("SELECT 1 FROM audit_events WHERE event_key = ?", [r["event_key"]]):
                missing.append(f"event {r['event_key']}")
        elif r["t"] == "drafted":
            found = store.query("SELECT runbook_sha256 FROM runs WHERE run_id = ?", [r["run_id"]])
            if not found or found[0]["runbook_sha256"] != r["sha256"]:
                missing.append(f"drafted {r['run_id']}")
    return missing


def checkpointed_cursors(home: Path, root: str) -> int:
    """Steps the tree's last checkpoints mark done: the cursors of the newest checkpoint of
    each run's namespace (the root's, and a child's in flight), added up."""
    engine = EmbeddedEngine(home / "checkpoints.sqlite")
    graph, _ = engine._graphs()
    latest: dict[str, int] = {}
    for item in graph.checkpointer.list({"configurable": {"thread_id": root}}):
        ns = item.config["configurable"].get("checkpoint_ns") or ""
        if ns not in latest:  # newest first
            latest[ns] = item.checkpoint.get("channel_values", {}).get("cursor") or 0
    return sum(latest.values())


def chain_problems(home: Path) -> list[str]:
    store = Store(home / "warden.duckdb")
    tenants = [r["tenant"] for r in store.query("SELECT DISTINCT tenant FROM audit_events")]
    out = []
    with store.connect(read_only=True) as con:
        for tenant in tenants:
            report = verify_chain(con, tenant)
            if not report.ok:
                out.append(f"{tenant}: {report.problem}")
    return out


def keys_twice(home: Path) -> list[dict[str, Any]]:
    return Store(home / "warden.duckdb").query(
        "SELECT event_key, count(*) AS n FROM audit_events WHERE event_key IS NOT NULL "
        "GROUP BY event_key HAVING count(*) > 1"
    )


# The acme tree's runs each approve their draft by a policy rule and run their pure analyser
# steps in the same superstep (graph/builder.py, _preparing and _stepping): the root's prepare
# and steps 1-3, then its child step 4, whose child runs prepare, steps 5-10 and its finish
# (finish:1) as one, and after which the root's finish (finish:2) runs in place.
# before:step:4 -- the root's first superstep's records checkpointed, the next step not
# started, so not flushed; after:approval:1 and after:finish:2 -- the node flushed the records
# (and wrote its own) but its checkpoint, which drops them, was never written: resume flushes
# them a second time; before:step:2, after:step:2, after:step:7 and before:finish:1 -- inside
# a superstep of pure steps: the checkpoints mark fewer steps done than were done before the
# kill (given here), so resume runs them again (their records were in no checkpoint; a step's
# gate may have flushed some when due) and must write each once.
_BETWEEN = ["before:step:4"]
_FLUSHED_NOT_CHECKPOINTED = ["after:approval:1", "after:finish:2"]
_INSIDE_A_BATCH = {"before:step:2": 1, "after:step:2": 2, "after:step:7": 6, "before:finish:1": 9}


def test_a_kill_between_a_checkpoint_and_its_flush_loses_and_duplicates_nothing(make_warden, figures):
    policy = auto_policy()
    reference = make_warden(policy)
    reference.run(*analyse_args())
    (ref_root,) = root_ids(reference)
    expected = outcome(reference, ref_root)
    assert expected["findings"] and len(expected["steps"]) >= 4, expected

    def case(point: str) -> tuple[str | None, int]:
        w = make_warden(policy, WARDEN_TEST_KILL_AT=point)
        killed = w.run(*analyse_args(), ok=None)
        if killed.code != -signal.SIGKILL:
            return f"{point}: not killed ({killed.code}): {killed}", 0
        (root,) = root_ids(w)
        waiting = in_checkpoint(w.home, root)
        unflushed = not_stored(w.home, waiting)
        if point in _BETWEEN and not unflushed:
            return f"{point}: the checkpoint held no unflushed record ({len(waiting)} records)", 0
        if point in _INSIDE_A_BATCH and checkpointed_cursors(w.home, root) >= _INSIDE_A_BATCH[point]:
            return f"{point}: the checkpoints mark every step done before the kill: not inside a superstep", 0
        w.extra_env.pop("WARDEN_TEST_KILL_AT")
        resumed = w.run("resume", root, "--json", ok=None)
        got = outcome(w, root)
        problems = []
        if resumed.code != 0 or got != expected:
            problems.append(f"resume exit {resumed.code}, outcome differs: {got} vs {expected}")
        if dupes := duplicated_events(w, root):
            problems.append(f"duplicated events {dupes}")
        if twice := keys_twice(w.home):
            problems.append(f"event keys stored twice {twice}")
        if broken := chain_problems(w.home):
            problems.append(f"audit chain: {broken}")
        if left := not_stored(w.home, in_checkpoint(w.home, root)):
            problems.append(f"records still unflushed after resume: {left}")
        return (f"{point}: " + "; ".join(problems) if problems else None), len(unflushed)

    points = _BETWEEN + _FLUSHED_NOT_CHECKPOINTED + list(_INSIDE_A_BATCH)
    with ThreadPoolExecutor(max_workers=2) as pool:  # two cases at a time: CI has two cores
        results = list(pool.map(case, points))
    problems = [p for p, _ in results if p]
    figures.add(
        kill_points=len(points),
        unflushed_records_at_kill=sum(n for _, n in results),
        resumed_identical=len(points) - len(problems),
    )
    assert not problems, "\n".join(problems)


def test_an_exception_out_of_the_graph_writes_the_checkpointed_records_before_failing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug in `finish` (the node that flushes a run's last records) fails the tree; the steps
    done before it are in the store all the same, and resume completes it with no duplicate."""
    policy = write_yaml(tmp_path / "policy.yaml", auto_policy())
    real_finish = nodes.finish

    def broken_finish(state: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        raise RuntimeError("finish bug")

    monkeypatch.setattr(nodes, "finish", broken_finish)
    home = tmp_path / "home"
    svc = Service(home, policy=policy)
    with pytest.raises(RuntimeError, match="finish bug"):
        svc.start(svc.principal("ana@acme", "asserted", writing=True), ACME_NOTICE, tenant="acme")
    (root,) = [r["run_id"] for r in svc.store.query("SELECT run_id FROM runs WHERE parent_run_id IS NULL")]
    waiting = in_checkpoint(home, root)
    assert any(r["t"] == "step" for r in waiting), "the child's steps should still be in its checkpoint"
    assert not_stored(home, waiting) == []
    statuses = {r["run_id"]: r["status"] for r in svc.store.query("SELECT run_id, status FROM runs")}
    assert set(statuses.values()) == {"failed"}, statuses
    child_steps = svc.store.query(
        "SELECT s.status FROM steps s JOIN runs r USING (run_id) WHERE r.parent_run_id = ?", [root]
    )
    assert child_steps and {s["status"] for s in child_steps} == {"completed"}
    before = svc.store.query("SELECT count(*) AS n FROM findings")[0]["n"]
    assert before > 0

    monkeypatch.setattr(nodes, "finish", real_finish)
    fresh = Service(home, policy=policy)
    assert fresh.resume(fresh.principal("ana@acme"), root).status == "completed"
    assert fresh.store.query("SELECT count(*) AS n FROM findings")[0]["n"] == before
    assert keys_twice(home) == []
    assert chain_problems(home) == []


def _findings_cli(w: Warden, root: str) -> set[str]:
    done = w.run("findings", root, "--as", READER, "--json")
    data = json.loads(done.out)
    items = data["findings"] if isinstance(data, dict) else data
    return {f["finding_id"] for f in items}


def test_readers_see_every_record_once_a_run_pauses_or_ends(tmp_path: Path) -> None:
    """Approval by a human: the tree pauses at the root, then at the generated child; at each
    pause and at the end, every record the checkpoints hold is in the store, and `warden
    findings`, `warden report` and `warden audit verify` show all of it."""
    w = Warden(home=tmp_path / "home", policy=write_yaml(tmp_path / "policy.yaml", acme_policy_data()))
    (started,) = w.analyse()
    root = started["run_id"]
    assert started["status"] == "waiting_approval", started
    assert not_stored(w.home, in_checkpoint(w.home, root)) == []
    assert w.query("SELECT runbook_sha256 FROM runs WHERE run_id = ?", root)[0]["runbook_sha256"]

    w.approve(root)  # the root's steps run until the generated child waits for its approval
    (child,) = [r["run_id"] for r in w.query("SELECT run_id FROM runs WHERE parent_run_id = ?", root)]
    assert w.run_row(child)["status"] == "waiting_approval"
    assert not_stored(w.home, in_checkpoint(w.home, root)) == []
    paused = {f["finding_id"] for f in w.findings(root)}
    assert paused, "the root's analysers should have found something before the child"
    assert _findings_cli(w, root) == paused

    w.approve(child)
    assert w.run_row(root)["status"] == "completed"
    assert in_checkpoint(w.home, root) == [] or not_stored(w.home, in_checkpoint(w.home, root)) == []
    stored = {f["finding_id"] for f in w.findings(root)}
    assert paused < stored
    assert _findings_cli(w, root) == stored
    report = json.loads(w.run("report", root, "--as", READER, "--format", "json").out)
    text = json.dumps(report)
    assert all(finding_id in text for finding_id in stored)
    steps = w.query("SELECT s.status FROM steps s JOIN runs r USING (run_id) WHERE r.root_run_id = ?", root)
    assert steps and {s["status"] for s in steps} == {"completed"}
    verified = w.run("audit", "verify", root, "--as", READER, "--json", ok=None)
    assert verified.code == 0, str(verified)
    assert chain_problems(w.home) == []
