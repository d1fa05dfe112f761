"""The tenancy matrix (tests/service/test_tenancy_matrix.py) on the Temporal engine: every
service operation × {the tenant's approver, the tenant's analyst (no approval role), another
tenant's user, an unknown user} on a run waiting for approval and a completed run, through the
CLI with WARDEN_ENGINE=temporal, a real dev server and a `warden worker`. The expected outcome of
each case is the embedded matrix's own table (imported, not copied): the door is the service's,
whichever engine runs the trees.

Reduced: no `nobody` identity (the CLI refuses it before any engine is built), no cancelled
state, no replay/diff/ropa (they read the ledger only). One dev server and one worker serve the
whole module; a case that changes a waiting run gets a fresh one, so no case leaks into the next
(the embedded matrix copies the state directory instead: Temporal's workflows are not in it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from _cluster import WAIT_S, Cluster
from temporalio.client import Client
from tests.service import test_tenancy_matrix as embedded  # the embedded engine's matrix

from warden.graph.temporal.settings import TemporalSettings
from warden.testing import scratch_database

pytestmark = pytest.mark.slow

IDENTITIES = {k: v for k, v in embedded.IDENTITIES.items() if k != "nobody"}
STATES = ("waiting_approval", "completed")
COMMANDS = (
    "findings",
    "tree",
    "review",
    "report",
    "audit",
    "resume",
    "approve",
    "reject",
    "cancel",
    "triage",
)
CHANGES_A_WAITING_RUN = {
    ("approve", "approver"),
    ("reject", "approver"),
    ("cancel", "approver"),
    ("cancel", "analyst"),
}
"""Cases whose expected outcome is a change to the waiting run: each gets a run of its own."""


class Prepared:
    def __init__(self, home: Path, runs: dict[str, str], ledger_url: str | None = None) -> None:
        self.home, self.runs = home, runs
        self.ledger_url = ledger_url
        """WARDEN_TEST_LEDGER=postgres: the module's database, which its worker records into (each
        test's own fresh database, set by tests/conftest.py, would hold none of these runs)."""

    def invoke(self, args: list[str], user: str | None) -> embedded.Result:
        with pytest.MonkeyPatch.context() as env:
            if self.ledger_url:
                env.setenv("WARDEN_LEDGER_URL", self.ledger_url)
            return embedded._invoke(self.home, args, user)

    def start(self) -> str:
        done = self.invoke(["analyse", str(embedded.NOTICE), "--tenant", "acme", "--json"], "ana@acme")
        assert done.code == 0, done.err
        run_id: str = json.loads(done.out.splitlines()[-1])["run_id"]
        return run_id

    def status(self, run_id: str) -> str:
        done = self.invoke(["tree", run_id, "--json"], "dora@acme")
        assert done.code == 0, done.err
        [root] = [r for r in json.loads(done.out) if r["run_id"] == run_id]
        return str(root["status"])


@pytest.fixture(scope="module")
def prepared(temporal_address: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prepared]:
    """One worker on a task queue of this module; the CLI's service on the Temporal engine (its
    settings from the environment, as `warden` reads them); a waiting and a completed run."""
    folder = tmp_path_factory.mktemp("tenancy-temporal")
    settings = TemporalSettings(
        address=temporal_address, task_queue=f"warden-tenancy-{time.time_ns()}", wait_s=WAIT_S
    )
    cluster = Cluster(folder / "home", settings, embedded.POLICY)
    cluster.home.mkdir()
    with contextlib.ExitStack() as stack:
        env = stack.enter_context(pytest.MonkeyPatch.context())
        url = None
        if os.environ.get("WARDEN_TEST_LEDGER") == "postgres":
            url = stack.enter_context(scratch_database("warden_tenancy_temporal"))
            env.setenv("WARDEN_LEDGER_URL", url)
        for name, value in cluster.env().items():
            if name.startswith("WARDEN_") and name != "WARDEN_HOME":
                env.setenv(name, value)
        env.setenv("WARDEN_TEMPORAL_WAIT_S", str(WAIT_S))
        try:
            cluster.service()  # the state directory initialised with the policy a worker reads
            cluster.start_workers(1)
            found = Prepared(cluster.home, {}, url)
            found.runs["waiting_approval"] = found.start()
            found.runs["completed"] = completed = found.start()
            for run in (completed, f"{completed}.checks"):
                done = found.invoke(["approve", run, "--role", "dpo"], "dora@acme")
                assert done.code == 0, done.err
            assert found.status(completed) == "completed"
            # the CLI's runs are Temporal workflows (the matrix below is not the embedded one again)
            assert _workflow_status(settings, found.runs["waiting_approval"]) == "RUNNING"
            assert _workflow_status(settings, completed) == "COMPLETED"
            yield found
        finally:
            cluster.stop()


def _workflow_status(settings: TemporalSettings, run_id: str) -> str:
    async def described() -> str:
        client = await Client.connect(settings.address, namespace=settings.namespace)
        found = await client.get_workflow_handle(run_id).describe()
        return found.status.name if found.status is not None else "UNKNOWN"

    return asyncio.run(described())


CASES = [(c, i, s) for c in COMMANDS for i in IDENTITIES for s in STATES]


@pytest.mark.parametrize(("command", "identity", "state"), CASES)
def test_run_commands_on_temporal_answer_as_on_the_embedded_engine(
    prepared: Prepared, command: str, identity: str, state: str
) -> None:
    own = state == "waiting_approval" and (command, identity) in CHANGES_A_WAITING_RUN
    run_id = prepared.start() if own else prepared.runs[state]
    result = prepared.invoke(embedded.RUN_COMMANDS[command](run_id), IDENTITIES[identity])
    code, error = embedded._expected(command, identity, state)
    assert result.code == code, f"{command} as {identity} on {state}: {result.code}\n{result.err}{result.out}"
    assert "internal error" not in result.err
    if error is not None:
        assert f"({error})" in result.err, result.err
    if identity in ("unknown", "other_tenant"):
        embedded._no_acme_data(result, prepared.runs)
    if identity == "other_tenant":  # exactly what a run that does not exist answers
        ghost = prepared.invoke(embedded.RUN_COMMANDS[command](embedded.GHOST), IDENTITIES[identity])
        assert (ghost.code, ghost.err.replace(embedded.GHOST, "RUN")) == (
            result.code,
            result.err.replace(run_id, "RUN"),
        )
    if not own:  # a refused or reading case changed nothing: the shared runs are as they were
        assert prepared.status(run_id) == state


@pytest.mark.parametrize("identity", list(IDENTITIES))
def test_runs_and_start_on_temporal_answer_as_on_the_embedded_engine(
    prepared: Prepared, identity: str
) -> None:
    listed = prepared.invoke(["runs", "--json"], IDENTITIES[identity])
    started = prepared.invoke(
        ["analyse", str(embedded.NOTICE), "--tenant", "acme", "--json"], IDENTITIES[identity]
    )
    if identity == "unknown":
        assert (listed.code, started.code) == (2, 2), listed.err + started.err
        embedded._no_acme_data(listed, prepared.runs)
        return
    assert listed.code == 0, listed.err
    seen = {r["run_id"] for r in json.loads(listed.out)}
    if identity == "other_tenant":
        assert seen == set()
        assert started.code == 2, started.err
        assert "internal error" not in started.err
    else:
        assert set(prepared.runs.values()) <= seen
        assert started.code == 0, started.err
        assert json.loads(started.out.splitlines()[-1])["status"] == "waiting_approval"
