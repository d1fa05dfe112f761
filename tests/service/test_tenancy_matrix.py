"""Every command × every kind of identity × run states, through the CLI's real code path.

The CLI only builds the principal; what each identity may see and do is decided by the
service. The matrix checks, as an attacker would try it:

- nobody (no --as, no WARDEN_USER) gets a usage error and no data, whatever the command;
- a user the policy does not know gets a usage error and no data;
- another tenant's user gets, for every run-scoped command, exactly the answer a run id that
  does not exist gets (so ids leak nothing), and sees none of the tenant's runs in `runs`;
- the tenant's own users may read; deciding needs the run's approval role (and not being its
  requester), cancelling needs to be its requester or an approver;
- changing the policy or a kill switch needs a policy admin.

Commands run in-process through typer's runner (the same functions `warden` calls), each on a
fresh copy of one prepared state directory, so a command that changes state cannot leak into
the next case.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from warden.cli import app
from warden.testing import refill_database, scratch_database

REPO = Path(__file__).resolve().parents[2]
POLICY = REPO / "fixtures" / "acme" / "policy.yaml"
NOTICE = REPO / "fixtures" / "acme" / "notice.md"
GHOST = "run-0123456789ab"
RETENTION_GAP = (
    "gdpr-"
    + hashlib.sha256(
        f"gdpr_transparency\x1f{hashlib.sha256(NOTICE.read_bytes()).hexdigest()}\x1fretention".encode()
    ).hexdigest()[:20]
)
"""The notice's missing-retention finding (ids are deterministic: analysers/gdpr_transparency)."""

IDENTITIES = {
    "approver": "dora@acme",  # acme, holds dpo (the approval role)
    "analyst": "ana@acme",  # acme, analyst only; the requester of every run here
    "other_tenant": "gwen@globex",  # globex's dpo
    "unknown": "mallory@acme",  # named nowhere in the policy
    "nobody": None,
}
STATES = ("waiting_approval", "completed", "cancelled")


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


def _invoke(home: Path, args: list[str], user: str | None, *, policy: bool = True) -> Result:
    env = {"WARDEN_HOME": str(home), "COLUMNS": "200", "NO_COLOR": "1", "WARDEN_USER": None}
    env["WARDEN_POLICY"] = str(POLICY) if policy else None
    argv = [*args, *(["--as", user] if user else [])]
    result = CliRunner(env=env).invoke(app, argv, catch_exceptions=False)
    return Result(result.exit_code, result.stdout, result.stderr)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    """One state directory with a root run in each state (all requested by ana@acme); with
    WARDEN_TEST_LEDGER=postgres, its ledger is a database each test gets a copy of."""
    with contextlib.ExitStack() as stack:
        if os.environ.get("WARDEN_TEST_LEDGER") == "postgres":
            url = stack.enter_context(scratch_database("warden_matrix"))
            stack.enter_context(pytest.MonkeyPatch.context()).setenv("WARDEN_LEDGER_URL", url)
            _TEMPLATE["url"] = url
        yield _prepare(tmp_path_factory)


_TEMPLATE: dict[str, str] = {}
"""The prepared ledger's database (WARDEN_TEST_LEDGER=postgres)."""


def _prepare(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    home = tmp_path_factory.mktemp("matrix") / "home"
    runs: dict[str, str] = {}

    def start() -> str:
        done = _invoke(home, ["analyse", str(NOTICE), "--tenant", "acme", "--json"], "ana@acme")
        assert done.code == 0, done.err
        return json.loads(done.out.splitlines()[-1])["run_id"]

    runs["waiting_approval"] = start()
    runs["completed"] = start()
    for run in (runs["completed"], f"{runs['completed']}.checks"):
        done = _invoke(home, ["approve", run, "--role", "dpo"], "dora@acme")
        assert done.code == 0, done.err
    runs["cancelled"] = start()
    done = _invoke(home, ["cancel", runs["cancelled"], "--reason", "duplicate"], "ana@acme")
    assert done.code == 0, done.err
    return home, runs


def _copy(prepared: tuple[Path, dict[str, str]], tmp_path: Path) -> tuple[Path, dict[str, str]]:
    home, runs = prepared
    copy = tmp_path / "home"
    shutil.copytree(home, copy)
    if "url" in _TEMPLATE:  # this test's fresh database becomes a copy of the prepared one
        refill_database(os.environ["WARDEN_LEDGER_URL"], _TEMPLATE["url"])
    return copy, runs


RUN_COMMANDS: dict[str, Callable[[str], list[str]]] = {
    "findings": lambda r: ["findings", r, "--json"],
    "tree": lambda r: ["tree", r, "--json"],
    "review": lambda r: ["review", r, "--json"],
    "report": lambda r: ["report", r, "--format", "json"],
    "audit": lambda r: ["audit", r],
    "resume": lambda r: ["resume", r, "--json"],
    "replay": lambda r: ["replay", r, "--json"],
    "approve": lambda r: ["approve", r, "--role", "dpo"],
    "reject": lambda r: ["reject", r, "--role", "dpo", "--reason", "no"],
    "cancel": lambda r: ["cancel", r, "--reason", "withdrawn"],
    "triage": lambda r: ["triage", RETENTION_GAP, "--run", r, "--mark", "accepted_risk", "--reason", "m"],
    "diff": lambda r: ["diff", r, r, "--json"],
    "ropa": lambda r: ["ropa", r, "--format", "json"],
}


def _expected(command: str, identity: str, state: str) -> tuple[int, str | None]:
    """(exit code, error code on stderr or None) the service must answer."""
    if identity == "nobody":
        return 2, "no_principal"
    if identity == "unknown":
        return 2, "unknown_user"
    if identity == "other_tenant":
        return 2, "unknown_run"
    waiting = state == "waiting_approval"
    if command in ("findings", "tree", "report", "audit", "diff", "ropa"):
        return 0, None
    if command == "triage":
        if state != "completed":  # nothing ran before approval: the run holds no finding
            return 2, "unknown_finding"
        # the tenant's triage roles default to its approval roles: dora (dpo) may, ana may not
        return (0, None) if identity == "approver" else (1, "forbidden")
    if command == "replay":
        # the replay (in a scratch directory) waits where the original waits; a withdrawn
        # original ends otherwise than its replay: exit 1, "different"
        return (1, None) if state == "cancelled" else (0, None)
    if command == "resume":  # exit 1 says the tree ended unsuccessfully
        return (1, None) if state == "cancelled" else (0, None)
    if command == "review":
        return (0, None) if waiting else (1, "refused")
    if command in ("approve", "reject"):
        if not waiting:
            return 1, "refused"
        # ana requested every run and is no dpo: refused; dora holds the role
        return (0, None) if identity == "approver" else (1, "refused")
    if command == "cancel":
        return (0, None) if waiting else (1, "refused")
    raise AssertionError(command)


def _no_acme_data(result: Result, runs: dict[str, str]) -> None:
    for run_id in runs.values():
        assert run_id not in result.out, result.out


CASES = [(c, i, s) for c in RUN_COMMANDS for i in IDENTITIES for s in STATES]


@pytest.mark.parametrize(("command", "identity", "state"), CASES)
def test_run_commands_answer_each_identity_as_the_service_decides(
    prepared: tuple[Path, dict[str, str]], tmp_path: Path, command: str, identity: str, state: str
) -> None:
    home, runs = _copy(prepared, tmp_path)
    run_id = runs[state]
    result = _invoke(home, RUN_COMMANDS[command](run_id), IDENTITIES[identity])
    code, error = _expected(command, identity, state)
    assert result.code == code, f"{command} as {identity} on {state}: {result.code}\n{result.err}{result.out}"
    assert "internal error" not in result.err
    if error is not None:
        assert f"({error})" in result.err, result.err
    if identity in ("nobody", "unknown", "other_tenant"):
        _no_acme_data(result, runs)
    if identity == "other_tenant":
        # exactly what a run that does not exist answers
        ghost = _invoke(home, RUN_COMMANDS[command](GHOST), IDENTITIES[identity])
        assert (ghost.code, ghost.err.replace(GHOST, "RUN")) == (
            result.code,
            result.err.replace(run_id, "RUN"),
        )


@pytest.mark.parametrize("identity", list(IDENTITIES))
def test_runs_lists_only_the_callers_tenants(
    prepared: tuple[Path, dict[str, str]], tmp_path: Path, identity: str
) -> None:
    home, runs = _copy(prepared, tmp_path)
    result = _invoke(home, ["runs", "--json"], IDENTITIES[identity])
    if identity in ("nobody", "unknown"):
        assert result.code == 2
        _no_acme_data(result, runs)
        return
    assert result.code == 0, result.err
    listed = {r["run_id"] for r in json.loads(result.out)}
    if identity == "other_tenant":
        assert listed == set()
    else:
        assert set(runs.values()) <= listed
        assert all(r["tenant"] == "acme" for r in json.loads(result.out))


@pytest.mark.parametrize("identity", list(IDENTITIES))
def test_analyse_needs_a_user_of_the_tenant(
    prepared: tuple[Path, dict[str, str]], tmp_path: Path, identity: str
) -> None:
    home, _ = _copy(prepared, tmp_path)
    result = _invoke(home, ["analyse", str(NOTICE), "--tenant", "acme", "--json"], IDENTITIES[identity])
    if identity in ("approver", "analyst"):
        assert result.code == 0, result.err
    else:
        assert result.code == 2, result.err
        assert "internal error" not in result.err


@pytest.mark.parametrize("identity", [*IDENTITIES, "admin"])
@pytest.mark.parametrize(
    "args",
    [
        ["policy", "apply", str(POLICY), "--reason", "re-apply"],
        ["policy", "kill-switch", "engage", "--tenant", "acme", "--reason", "drill"],
    ],
    ids=["apply", "kill-switch"],
)
def test_only_a_policy_admin_changes_the_policy_in_force(
    prepared: tuple[Path, dict[str, str]], tmp_path: Path, identity: str, args: list[str]
) -> None:
    home, _ = _copy(prepared, tmp_path)
    user = "adam@acme" if identity == "admin" else IDENTITIES[identity]
    result = _invoke(home, args, user, policy=False)
    if identity == "admin":
        assert result.code == 0, result.err
        shown = _invoke(home, ["policy", "show", "--json"], "adam@acme", policy=False)
        switched = json.loads(shown.out)["kill_switch"]
        assert (switched["acme"] == "drill") == (args[1] == "kill-switch")
    else:
        assert result.code == 2, result.err
        assert re.search(r"\((no_principal|unknown_user|forbidden)\)", result.err), result.err


def test_parse_since_reads_dates_and_ages_and_refuses_what_is_off_the_calendar() -> None:
    from datetime import datetime

    from warden.errors import UsageError
    from warden.service.reading import parse_since, since_utc

    now = datetime(2026, 12, 7, 12, 0)
    assert parse_since("30m", now=now) == datetime(2026, 12, 7, 11, 30)
    assert parse_since(" 7d ", now=now) == datetime(2026, 11, 30, 12, 0)
    assert parse_since("2026-12-01") == datetime(2026, 12, 1)
    assert parse_since("2026-12-01T09:00+01:00") == datetime(2026, 12, 1, 8, 0)  # naive UTC
    assert since_utc(None) is None and since_utc(now) == now
    for text in (
        "99999999d",
        "9" * 30 + "m",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
        "soon",
    ):
        with pytest.raises(UsageError) as refused:
            parse_since(text, now=now)
        assert refused.value.code == "usage" and refused.value.fix and "--since" in refused.value.message
