"""Several hosts: the service and two `warden worker` processes each with a state directory of
their own (nothing shared on disk), sharing only WARDEN_LEDGER_URL (a fresh database on the
Postgres at 127.0.0.1:5432) and the Temporal server. The documents travel through the ledger:
the service reads them when it takes a request, so an upload only the service's host has (taken
into its state directory, then gone from disk before any worker runs) is analysed by the
workers all the same. Skipped, saying why, when no Postgres answers or no `temporal` binary is
found."""

from __future__ import annotations

import io
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from _cluster import WAIT_S, Cluster, findings_shape
from _wardencli import ACME_NOTICE

from warden.graph.engine import EmbeddedEngine
from warden.graph.temporal.engine import TemporalEngine
from warden.service import Service
from warden.testing import pg_unavailable_reason, scratch_database

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(pg_unavailable_reason() is not None, reason=str(pg_unavailable_reason())),
]

TREES = 4
REPO = Path(__file__).resolve().parents[2]


def _approve_tree(service: Service, root: str) -> Any:
    dora = service.principal("dora@acme")
    outcome = service.decide(dora, root, "approve", role="dpo")
    while outcome.waiting:
        outcome = service.decide(dora, outcome.waiting[0]["run_id"], "approve", role="dpo")
    return outcome


def test_a_service_and_two_workers_on_separate_hosts_share_only_the_postgres_ledger(
    cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the reference: the embedded engine on a DuckDB file
    reference = Service(
        tmp_path / "embedded",
        policy=cluster.policy,
        engine=EmbeddedEngine(tmp_path / "cp.sqlite"),
        ledger_url="",  # whatever WARDEN_TEST_LEDGER says
    )
    assert reference.store.backend == "duckdb"
    ana = reference.principal("ana@acme", writing=True)
    started = reference.start(ana, ACME_NOTICE, tenant="acme")
    assert _approve_tree(reference, started.root_run_id).status == "completed"
    expected = findings_shape(reference.findings(ana, started.root_run_id), started.root_run_id)
    assert expected

    with scratch_database("warden_hosts") as url:
        monkeypatch.setenv("WARDEN_LEDGER_URL", url)
        hosts = {name: tmp_path / name for name in ("host-service", "host-worker-1", "host-worker-2")}
        for home in hosts.values():
            home.mkdir()
        service = Service(
            hosts["host-service"], policy=cluster.policy, engine=TemporalEngine(cluster.settings)
        )
        service.store.threaded = True  # as `warden serve` holds it
        assert service.store.backend == "postgres"
        service.policies.in_force(may_initialise=True)  # the policy goes into the ledger
        for name in ("host-worker-1", "host-worker-2"):
            env = {**cluster.env(), "WARDEN_HOME": str(hosts[name]), "WARDEN_LEDGER_URL": url}
            with open(tmp_path / f"{name}.log", "wb") as log:
                cluster.workers.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "warden", "worker"],
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        ana = service.principal("ana@acme", writing=True)

        def only_on_the_service_host(name: str, data: bytes) -> Any:
            """Upload `data` as the server does (into host-service/uploads/acme), submit it, then
            delete the upload before the tree is handed to the workers: no host but the
            service's ever had it, and now not even that one."""
            (stored,) = service.upload_set(ana, "acme", [(name, io.BytesIO(data))])
            assert stored.is_relative_to(hosts["host-service"] / "uploads" / "acme"), stored
            submitted = service.submit(ana, stored, tenant="acme")
            stored.unlink()
            return service.proceed(submitted)

        def one(i: int) -> tuple[str, str, list[tuple[Any, ...]]]:
            if i == 0:
                first = only_on_the_service_host("notice.md", ACME_NOTICE.read_bytes())
            else:
                first = service.start(ana, ACME_NOTICE, tenant="acme")
            assert first.status == "waiting_approval", first
            root = first.root_run_id
            return (
                root,
                _approve_tree(service, root).status,
                findings_shape(service.findings(ana, root), root),
            )

        with ThreadPoolExecutor(2) as pool:
            results = list(pool.map(one, range(TREES)))
        for root, status, shape in results:
            assert status == "completed", root
            assert shape == expected, root
        # a document the service could not read fails its run at ingest with the code, as on
        # the embedded engine, and stores nothing (not `document_not_found` from a worker's disk)
        pdf = (REPO / "fixtures" / "notices" / "northwind_health.pdf").read_bytes()
        broken = only_on_the_service_host("cut.pdf", pdf[: len(pdf) // 2])
        assert broken.status == "failed", broken
        assert "(document_corrupt)" in str(broken.reason), broken.reason
        roots = [root for root, _, _ in results]
        stored = service.store.query(
            "SELECT run_id, count(*) AS n FROM run_documents GROUP BY run_id ORDER BY run_id"
        )
        assert {r["run_id"]: r["n"] for r in stored if r["run_id"] in [*roots, broken.root_run_id]} == {
            root: 1 for root in roots
        }
        # the documents_ingested event once per root run (recorded by the service with the
        # request), none for the child runs (they reuse their root's documents) or the refusal
        ingested = service.store.query(
            """SELECT run_id, count(*) AS n FROM audit_events
               WHERE event = 'documents_ingested' GROUP BY run_id"""
        )
        assert sorted((r["run_id"], r["n"]) for r in ingested) == sorted((root, 1) for root in roots)

        twice = service.store.query(
            """SELECT run_id, event_key, count(*) AS n FROM audit_events
               GROUP BY run_id, event_key HAVING count(*) > 1 AND event_key IS NOT NULL"""
        )
        assert twice == [], "no event recorded twice"
        steps = service.store.query(
            """SELECT run_id, payload_json, count(*) AS n FROM audit_events WHERE event = 'step_completed'
               GROUP BY run_id, payload_json HAVING count(*) > 1"""
        )
        assert steps == [], "no step recorded twice"
        # both workers did activities, each from its own host
        logs = {name: (tmp_path / f"{name}.log").read_text() for name in ("host-worker-1", "host-worker-2")}
        for name, text in logs.items():
            assert "Traceback" not in text and "store_" not in text, (name, text)
        env = {**cluster.env(), "WARDEN_HOME": str(hosts["host-service"]), "WARDEN_LEDGER_URL": url}
        verified = subprocess.run(
            [sys.executable, "-m", "warden", "audit", "verify", "--as", "dora@acme"],
            env=env,
            capture_output=True,
            text=True,
            timeout=WAIT_S,
        )
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert "tenant acme: intact" in verified.stdout
        cluster.stop()  # before the database goes
        service.store.close()
        for home in hosts.values():  # nothing of the ledger on any host's disk
            assert not (home / "warden.duckdb").exists(), home
            assert not (home / "checkpoints.sqlite").exists(), home
