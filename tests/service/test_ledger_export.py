"""`warden ledger export`: a completed Acme analysis recorded in a Postgres ledger (a fresh
database on 127.0.0.1:5432), snapshotted into a DuckDB file; the investigation report built from
that file equals the one built from the ledger, and `warden doctor` names the ledger it checked.
Skipped, saying why, only when no Postgres answers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from _acme_tree import acme_copy

from warden.errors import UsageError
from warden.investigate import Source, build_report, open_store, render
from warden.testing import pg_unavailable_reason, scratch_database

pytestmark = pytest.mark.skipif(pg_unavailable_reason() is not None, reason=str(pg_unavailable_reason()))


@pytest.fixture
def pg_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with scratch_database("warden_export") as url:
        monkeypatch.setenv("WARDEN_LEDGER_URL", url)
        yield url


def test_the_report_from_the_export_equals_the_report_from_the_postgres_ledger(
    pg_url: str, tmp_path: Path
) -> None:
    acme = acme_copy(tmp_path / "acme")
    root = acme.completed()
    service = acme.service()
    assert service.store.backend == "postgres"
    assert not (acme.home / "warden.duckdb").exists(), "the ledger is Postgres, not the state directory"

    # every identity but an administrator: the requester, an approver, another tenant's user
    for user in ("ana@acme", "dora@acme", "gwen@globex"):
        with pytest.raises(UsageError) as refused:
            service.export_ledger(service.principal(user), tmp_path / "x.duckdb")
        assert refused.value.code == "forbidden", user
        assert not (tmp_path / "x.duckdb").exists(), user

    target = tmp_path / "out" / "ledger.duckdb"
    counts = service.export_ledger(service.principal("adam@acme"), target)
    assert counts["findings"] > 0 and counts["audit_events"] > 0 and counts["runs"] == 2
    from_ledger = build_report(Source(service.store.path, store=service.store), root)
    from_export = build_report(open_store(target), root)
    from_export["generated_at"] = from_ledger["generated_at"]  # when each was built: not data
    assert from_export == from_ledger
    assert render(from_export, "md") == render(from_ledger, "md")
    for table, n in counts.items():
        assert service.store.query(f"SELECT count(*) AS n FROM {table}")[0]["n"] == n, table

    # a replay works from an export in its scratch directory and never writes the ledger
    from warden.service.replay import replay_run

    before = {t: service.store.query(f"SELECT count(*) AS n FROM {t}")[0]["n"] for t in counts}
    replayed = replay_run(service, service.principal("dora@acme"), root)
    assert replayed.identical, replayed
    assert {t: service.store.query(f"SELECT count(*) AS n FROM {t}")[0]["n"] for t in counts} == before

    with pytest.raises(UsageError) as again:
        service.export_ledger(service.principal("adam@acme"), target)
    assert again.value.code == "export_exists"

    # the CLI, and doctor naming the ledger it checked
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARDEN_")}
    env.update(WARDEN_HOME=str(acme.home), WARDEN_LEDGER_URL=pg_url, NO_COLOR="1", COLUMNS="200")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "warden",
            "ledger",
            "export",
            "--to",
            str(tmp_path / "cli.duckdb"),
            "--as",
            "adam@acme",
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)["rows"]
    # an export is audited before it copies (`ledger_exported`, on each tenant's chain), so the
    # second snapshot holds the first's rows and the events recording the second export
    exports = service.store.query("SELECT count(*) AS n FROM audit_events WHERE event = 'ledger_exported'")
    chains = service.store.query("SELECT count(DISTINCT tenant) AS n FROM audit_events")[0]["n"]
    assert exports[0]["n"] == 2 * chains
    assert rows["audit_events"] == counts["audit_events"] + chains
    assert {t: n for t, n in rows.items() if t != "audit_events"} == {
        t: n for t, n in counts.items() if t != "audit_events"
    }
    doctor = subprocess.run(
        [sys.executable, "-m", "warden", "doctor", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    store = json.loads(doctor.stdout)["engine"]["store"]
    assert (store["ledger"], store["ok"], store["detail"]) == ("postgres", True, "opens and answers"), store
    assert store["path"] == pg_url
