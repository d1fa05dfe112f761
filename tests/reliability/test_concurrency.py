"""Eight analyses, their racing approvals and read-only queries at once on one WARDEN_HOME.

Every command is a real `python -m warden` process sharing the DuckDB file and the SQLite
checkpointer. Nothing may fail, nothing may be lost, and each approval executes once even
when two approvers race for the same run.
"""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from _reliability import acme_policy_data, analyse_args, outcome, root_ids

pytestmark = pytest.mark.slow

ANALYSES = 8


def test_eight_analyses_racing_approvals_and_readers_lose_nothing(make_warden, figures):
    w = make_warden(acme_policy_data())
    reads: Counter[str] = Counter()
    failed_reads: list[str] = []
    stop = threading.Event()

    def reader() -> None:
        """Read-only commands in a loop, against whatever runs exist at that moment."""
        while not stop.is_set():
            if not (w.home / "warden.duckdb").exists():
                stop.wait(0.2)
                continue
            listed = w.run("runs", "--json", ok=None)
            reads["runs"] += 1
            if listed.code != 0:
                failed_reads.append(str(listed))
                continue
            for row in listed.json()[:2]:
                for command in ("findings", "tree"):
                    done = w.run(command, row["run_id"], "--json", ok=None)
                    reads[command] += 1
                    if done.code != 0:
                        failed_reads.append(str(done))

    reading = threading.Thread(target=reader, daemon=True)
    reading.start()
    try:
        started = [w.popen(*analyse_args()) for _ in range(ANALYSES)]
        analysed = [w.wait(p) for p in started]
        assert all(d.code == 0 for d in analysed), "\n".join(str(d) for d in analysed if d.code)
        roots = root_ids(w)
        assert len(roots) == ANALYSES

        # two approvers race for every root: exactly one of each pair executes it
        racers = [
            (root, w.popen("approve", root, "--as", "dora@acme", "--role", "dpo"))
            for root in roots
            for _ in range(2)
        ]
        results: dict[str, list[int]] = {}
        for root, proc in racers:
            done = w.wait(proc)
            assert done.code in (0, 1), str(done)
            if done.code == 1:
                assert "refused" in done.err, str(done)
            results.setdefault(root, []).append(done.code)
        assert all(sorted(codes) == [0, 1] for codes in results.values()), results

        children = [
            w.popen("approve", f"{root}.checks", "--as", "dora@acme", "--role", "dpo") for root in roots
        ]
        approved_children = [w.wait(p) for p in children]
        assert all(d.code == 0 for d in approved_children), "\n".join(
            str(d) for d in approved_children if d.code
        )
    finally:
        stop.set()
        reading.join(timeout=180)

    outcomes = [outcome(w, root) for root in roots]
    assert all(o == outcomes[0] for o in outcomes), "every tree should end the same way"
    assert all(status == "completed" for _, status, _ in outcomes[0]["runs"])
    approvals = w.query("SELECT run_id, count(*) AS n FROM approvals GROUP BY run_id")
    assert len(approvals) == 2 * ANALYSES and all(a["n"] == 1 for a in approvals)
    executed = w.query(
        "SELECT event, count(*) AS n FROM audit_events "
        "WHERE event IN ('approval:approve', 'run_finished') GROUP BY event"
    )
    assert {e["event"]: e["n"] for e in executed} == {
        "approval:approve": 2 * ANALYSES,
        "run_finished": 2 * ANALYSES,
    }
    reruns = w.query("SELECT count(*) AS n FROM steps WHERE attempts <> 1")[0]["n"]
    assert reruns == 0, "no step ran twice"
    assert not failed_reads, "\n".join(failed_reads[:3])
    findings = w.query("SELECT count(*) AS n FROM findings")[0]["n"]
    assert findings == ANALYSES * len(outcomes[0]["findings"])
    figures.add(
        analyses=ANALYSES,
        approve_processes=len(racers) + len(children),
        approvals_executed=len(approvals),
        duplicate_approvers_refused=sum(codes.count(1) for codes in results.values()),
        read_commands=sum(reads.values()),
        failed_commands=len(failed_reads),
        findings=findings,
        lost=ANALYSES * len(outcomes[0]["findings"]) - findings,
    )
