"""SIGKILL a run at every node boundary in turn; `warden resume` from a fresh process must end
with exactly what an uninterrupted run leaves: same runs, steps, outputs and findings, no
finding or once-only audit event duplicated.

The boundaries come from an uninterrupted reference run (how many times each node ran), so
the matrix grows by itself when the planner drafts more steps. WARDEN_TEST_KILL_AT is the
hook in src/warden/graph/builder.py. It counts every step, also those a batch of pure analyser
steps runs in one superstep, so a kill inside a batch (nothing of it checkpointed) is one of
the boundaries tried.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
from _reliability import acme_policy_data, analyse_args, auto_policy, duplicated_events, outcome, root_ids
from _wardencli import ACME_NOTICE, Warden, write_yaml

pytestmark = pytest.mark.slow


def _boundaries(runs: int, steps: int) -> list[str]:
    """Every node execution of a tree with `runs` runs and `steps` steps, before and after. No
    run of a tree `warden analyse` starts runs ingest: the service reads the documents and
    stores them in the request's own transaction (a kill while it reads leaves no run at all),
    and a child reuses its root's; ingest's own kills are the server's path (tests/service)."""
    counts = {"plan": runs, "guard": runs, "approval": runs, "step": steps, "finish": runs}
    return [
        f"{when}:{node}:{n}"
        for node, k in counts.items()
        for n in range(1, k + 1)
        for when in ("before", "after")
    ]


def test_a_run_killed_at_any_node_boundary_resumes_to_the_uninterrupted_result(make_warden, figures):
    policy = auto_policy()
    reference = make_warden(policy)
    reference.run(*analyse_args())
    (ref_root,) = root_ids(reference)
    expected = outcome(reference, ref_root)
    assert all(status == "completed" for _, status, _ in expected["runs"]), expected["runs"]
    assert expected["findings"], "the reference run should find something to compare"
    points = _boundaries(len(expected["runs"]), len(expected["steps"]))

    def crash_and_resume(point: str) -> str | None:
        """None when the resumed tree matches the reference, else what went wrong."""
        w = make_warden(policy, WARDEN_TEST_KILL_AT=point)
        killed = w.run(*analyse_args(), ok=None)
        if killed.code != -signal.SIGKILL:
            return f"{point}: not killed ({killed.code})"
        roots = root_ids(w)
        if len(roots) != 1:
            return f"{point}: {len(roots)} root runs"
        w.extra_env.pop("WARDEN_TEST_KILL_AT")
        resumed = w.run("resume", roots[0], "--json", ok=None)
        got = outcome(w, roots[0])
        if resumed.code != 0 or got != expected:
            return f"{point}: resume exit {resumed.code}, outcome differs: {got} vs {expected}"
        dupes = duplicated_events(w, roots[0])
        return f"{point}: duplicated events {dupes}" if dupes else None

    with ThreadPoolExecutor(max_workers=2) as pool:  # two cases at a time: CI has two cores
        problems = [p for p in pool.map(crash_and_resume, points) if p]
    survived = len(points) - len(problems)
    figures.add(
        kill_points=len(points),
        crashes_survived=survived,
        findings_per_run=len(expected["findings"]),
        findings_lost_or_duplicated=len(points) - survived,
    )
    assert not problems, "\n".join(problems)


_SUBMIT_THEN_PROCEED = """
import sys
from pathlib import Path
from warden.cli._runtime import open_service, principal
service = open_service(Path(sys.argv[1]))
who = principal(service, "ana@acme", writing=True)
service.proceed(service.submit(who, [Path(sys.argv[2])], tenant="acme"))
"""


@pytest.mark.parametrize("point", ["before:ingest:1", "after:ingest:1"])
def test_a_run_the_server_way_killed_in_ingest_resumes_to_the_uninterrupted_result(make_warden, point):
    """A request recorded first and driven after (the server's `submit` then `proceed`: the
    run id comes back before the documents are read) reads them in its ingest node; a kill
    there resumes to what an uninterrupted `warden analyse` leaves."""
    policy = auto_policy()
    reference = make_warden(policy)
    reference.run(*analyse_args())
    expected = outcome(reference, root_ids(reference)[0])
    w = make_warden(policy)
    env = {**w.env(), "WARDEN_TEST_KILL_AT": point}
    killed = subprocess.run(
        [sys.executable, "-c", _SUBMIT_THEN_PROCEED, str(w.policy), str(ACME_NOTICE)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    (root,) = root_ids(w)
    resumed = w.run("resume", root, "--json", ok=None)
    assert resumed.code == 0, str(resumed)
    assert outcome(w, root) == expected
    assert not duplicated_events(w, root)


_HUMAN_POINTS = [("root", "after:approval:1"), ("root", "after:step:2"), ("child", "after:approval:1")]


@pytest.fixture(scope="module")
def clean_outcome(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """What an uninterrupted, auto-approved run of the acme notice leaves in the store."""
    policy = write_yaml(tmp_path_factory.mktemp("clean") / "policy.yaml", auto_policy())
    clean = Warden(home=tmp_path_factory.mktemp("clean-home"), policy=policy)
    clean.run(*analyse_args())
    return outcome(clean, root_ids(clean)[0])


@pytest.mark.parametrize(("approving", "point"), _HUMAN_POINTS)
def test_an_approver_killed_mid_execution_never_needs_to_approve_twice(
    make_warden, figures, clean_outcome, approving, point
):
    """The process approving the root (or the child) dies at `point`; `warden resume`
    finishes the tree with the recorded approval applied once, not asked for again."""
    human = make_warden(acme_policy_data())
    human.run(*analyse_args())
    (root,) = root_ids(human)
    if approving == "child":
        human.approve(root)
    target = root if approving == "root" else f"{root}.checks"
    human.extra_env["WARDEN_TEST_KILL_AT"] = point
    first = human.approve(target, ok=None)
    assert first.code == -signal.SIGKILL, str(first)
    human.extra_env.pop("WARDEN_TEST_KILL_AT")
    human.run("resume", root, "--json")
    if human.run_row(f"{root}.checks")["status"] == "waiting_approval":
        human.approve(f"{root}.checks")
    got = outcome(human, root)
    assert got["findings"] == clean_outcome["findings"]
    assert [(r, s) for r, s, _ in got["runs"]] == [(r, s) for r, s, _ in clean_outcome["runs"]]
    assert not duplicated_events(human, root)
    decided = human.query(
        "SELECT run_id, count(*) AS n FROM approvals WHERE root_run_id = ? GROUP BY run_id", root
    )
    assert sorted((d["run_id"], d["n"]) for d in decided) == [(root, 1), (f"{root}.checks", 1)]
    figures.add(killed_while_approving=approving, kill_point=point, resumed="completed", approvals_per_run=1)
