"""A user of one tenant can neither see nor act on another tenant's runs, through any command;
and nobody (no identity at all) sees or does anything.

The table below is the whole test: one row per command (with `{run}` for the target run id).
To cover a new command (report, audit, replay, doctor ...), add its row; every row runs as a
globex user against acme's waiting run, its child and its completed tree, and must refuse
with exit 2 exactly as it refuses a run that does not exist (or list nothing), print none of
acme's data, and change nothing in the store. Every row also runs with no identity (no --as,
no $WARDEN_USER): a usage error (`no_principal`), never every tenant's data.
"""

from __future__ import annotations

import pytest
from _reliability import acme_policy_data, analyse_args, root_ids
from _wardencli import Warden, write_yaml

OUTSIDERS = ("gwen@globex", None)
"""Globex's DPO: the same role name as acme's approver, in another tenant (the strongest
outsider; add "gil@globex" for the analyst too, at twice the time); and None: nobody, with
no --as and no $WARDEN_USER."""

COMMANDS: dict[str, tuple[str, ...]] = {
    "runs": ("runs", "--json", "--as", "{user}"),
    "runs-waiting": ("runs", "--status", "waiting_approval", "--json", "--as", "{user}"),
    "findings": ("findings", "{run}", "--json", "--as", "{user}"),
    "tree": ("tree", "{run}", "--json", "--as", "{user}"),
    "review": ("review", "{run}", "--json", "--as", "{user}"),
    "approve": ("approve", "{run}", "--as", "{user}", "--role", "dpo", "--policy", "{policy}"),
    "reject": ("reject", "{run}", "--as", "{user}", "--role", "dpo", "--reason", "x", "--policy", "{policy}"),
    "resume": ("resume", "{run}", "--as", "{user}", "--policy", "{policy}"),
    "cancel": ("cancel", "{run}", "--as", "{user}", "--reason", "x"),
    "triage": (
        "triage",
        "gdpr-00000000000000000000",
        "--run",
        "{run}",
        "--mark",
        "fixed",
        "--reason",
        "x",
        "--as",
        "{user}",
    ),
    "diff": ("diff", "{run}", "{run}", "--json", "--as", "{user}"),
    "ropa": ("ropa", "{run}", "--as", "{user}"),
}
LISTS = {"runs", "runs-waiting"}
"""Commands that list: they succeed, showing none of the other tenant's runs."""
NO_SUCH_RUN = "r-0000000000-none"


@pytest.fixture(scope="module")
def acme_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Warden, dict[str, str]]:
    """A state directory with one acme tree waiting for approval and one completed."""
    base = tmp_path_factory.mktemp("tenancy")
    w = Warden(home=base / "home", policy=write_yaml(base / "policy.yaml", acme_policy_data()))
    w.run(*analyse_args())
    (completed,) = root_ids(w)
    w.approve(completed)
    w.approve(f"{completed}.checks")
    w.run(*analyse_args())
    (waiting,) = set(root_ids(w)) - {completed}
    return w, {"waiting": waiting, "completed": completed, "child": f"{completed}.checks"}


def _snapshot(w: Warden) -> dict[str, list]:
    return {
        "runs": w.query("SELECT run_id, status, claimed_by FROM runs ORDER BY run_id"),
        "approvals": w.query("SELECT approval_id FROM approvals ORDER BY approval_id"),
        "steps": w.query("SELECT run_id, step_id, status, attempts FROM steps ORDER BY run_id, step_id"),
        "audit": w.query("SELECT count(*) AS n FROM audit_events"),
        "triage": w.query("SELECT count(*) AS n FROM triage"),
    }


def _as(w: Warden, user: str | None) -> Warden:
    """The state directory as `user` sees it; None: with no identity at all."""
    return Warden(home=w.home, policy=None, extra_env={"WARDEN_USER": None} if user is None else {})


def _args(command: str, run: str, user: str | None, policy: object) -> list[str]:
    args = list(COMMANDS[command])
    if user is None:
        at = args.index("--as")
        del args[at : at + 2]
    return [a.format(run=run, user=user, policy=policy) for a in args]


@pytest.mark.parametrize("user", OUTSIDERS, ids=lambda u: u or "nobody")
@pytest.mark.parametrize("command", list(COMMANDS))
def test_another_tenants_user_can_neither_see_nor_act_on_a_run(acme_home, command, user, figures):
    w, runs = acme_home
    who = _as(w, user)
    before = _snapshot(w)
    tried = 0
    for target in runs.values() if command not in LISTS else ("-",):
        done = who.run(*_args(command, target, user, w.policy), ok=None)
        tried += 1
        for run_id in runs.values():
            assert run_id not in done.out, f"{command} leaked {run_id} to {user}:\n{done}"
        if user is None:
            assert done.code == 2 and "(no_principal)" in done.err, str(done)
        elif command in LISTS:
            assert done.code == 0 and done.json() == [], str(done)
        else:
            # refused exactly as a run that does not exist is: the id tells the outsider nothing
            missing = who.run(*_args(command, NO_SUCH_RUN, user, w.policy), ok=None)
            assert done.code == missing.code == 2, f"{done}\n{missing}"
            assert "(unknown_run)" in done.err, str(done)
            assert done.err.replace(target, NO_SUCH_RUN) == missing.err, f"{done}\n{missing}"
    assert _snapshot(w) == before, f"{command} by {user} changed the store"
    figures.add(attempts=tried, refused_or_empty=tried, store_changed=False)


def test_the_tenants_own_users_do_see_their_runs(acme_home):
    """The control: the same commands work for acme's DPO, so the refusals above are tenancy."""
    w, runs = acme_home
    listed = w.run("runs", "--json", "--as", "dora@acme").json()
    assert {r["run_id"] for r in listed} >= set(runs.values())
    assert w.run("findings", runs["completed"], "--json", "--as", "dora@acme").json()
    assert w.run("review", runs["waiting"], "--json", "--as", "dora@acme").json()["tenant"] == "acme"
