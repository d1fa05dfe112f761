"""A long-lived service (`Service.long_lived()`: the server, a worker, a batch): its DuckDB file
lingers open between analyses, the policy in force is read once while nothing can have changed
it, and still an engaged kill switch is seen at once and another process that wants the file
gets it while this one analyses back to back."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from warden.service import Service
from warden.store import policies

REPO = Path(__file__).resolve().parents[2]
ACME = REPO / "fixtures" / "acme"
POLICY = ACME / "policy.yaml"
NOTICE = ACME / "notice.md"

_WAIT_AND_WRITE = (
    "import sys, time; from warden.store import Store\n"
    "s = Store(sys.argv[1], lock_timeout_s=120)\n"
    "t = time.monotonic()\n"
    "with s.connect() as con:\n"
    "    con.execute(\"INSERT INTO meta VALUES ('other', 'x') ON CONFLICT DO NOTHING\")\n"
    "print(time.monotonic() - t)\n"
)


def _counting_policy_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    reads = [0]
    real = policies.sha256_in_force

    def counted(con):  # type: ignore[no-untyped-def]
        reads[0] += 1
        return real(con)

    monkeypatch.setattr(policies, "sha256_in_force", counted)
    return reads


def _warm(svc: Service) -> None:
    """The file open (a first read in a hold opens it, so it cannot be reused: another process
    may have written until then) and the policy in force read under it."""
    with svc.store.hold():
        svc.policies.live()
        svc.policies.live()


def test_the_policy_in_force_is_read_again_only_after_a_policy_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = Service(tmp_path / "home", policy=POLICY).long_lived()
    svc.principal("ana@acme", writing=True)  # initialises the state directory
    _warm(svc)
    reads = _counting_policy_reads(monkeypatch)
    with svc.store.hold():
        for _ in range(3):
            assert svc.policies.live().kill_switch_reason("acme") is None
            svc.policies.in_force(may_initialise=True)
        duckdb = svc.store.backend == "duckdb"
        assert reads[0] == (0 if duckdb else 6), "DuckDB: the last reading stands; Postgres: every time"
        # another service of this process (another Store on the same file) engages the switch
        admin_svc = Service(tmp_path / "home")
        admin_svc.store.threaded = True  # its reads open read-write, as the held file is here
        admin_svc.kill_switch(admin_svc.principal("adam@acme"), "acme", engage=True, reason="incident 9")
        reads[0] = 0  # (the admin's own)
        assert svc.policies.live().kill_switch_reason("acme") == "incident 9"
        assert svc.policies.live().kill_switch_reason("acme") == "incident 9"
        assert reads[0] == (1 if duckdb else 2)
    svc.store.close()


@pytest.mark.duckdb_only
def test_a_reopened_file_is_read_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    svc = Service(tmp_path / "home", policy=POLICY).long_lived()
    svc.principal("ana@acme", writing=True)
    _warm(svc)
    reads = _counting_policy_reads(monkeypatch)
    with svc.store.hold():
        svc.policies.live()
        assert reads[0] == 0
        svc.store.release()  # given back: another process may have written
        svc.policies.live()
        assert reads[0] == 1
    svc.store.close()


@pytest.mark.duckdb_only
def test_another_process_gets_the_file_while_this_one_analyses_back_to_back(tmp_path: Path) -> None:
    svc = Service(tmp_path / "home", policy=POLICY).long_lived()
    svc.store.linger_cap_s = 600.0  # only the waiter's announcement can let it in
    ana = svc.principal("ana@acme", writing=True)
    svc.start(ana, NOTICE, tenant="acme")  # warm-up
    stop = threading.Event()
    took: list[float] = []

    def analyse() -> None:
        while not stop.is_set():
            started = time.monotonic()
            assert svc.start(ana, NOTICE, tenant="acme").status == "waiting_approval"
            took.append(time.monotonic() - started)

    analyst = threading.Thread(target=analyse)
    analyst.start()
    try:
        time.sleep(1.0)
        waited = subprocess.run(
            [sys.executable, "-c", _WAIT_AND_WRITE, str(svc.store.path)],
            capture_output=True,
            text=True,
            timeout=180,
        )
        time.sleep(1.0)  # and the analyses carry on after it
    finally:
        stop.set()
        analyst.join(timeout=120)
    assert waited.returncode == 0, waited.stderr
    wait_s = float(waited.stdout.strip())
    longest = max(took)
    # the end of the analysis under way (it announced during it), its longest sleep between
    # retries (1 s), its own open; slack for this 2-core machine
    assert wait_s < longest + 1.0 + 3.0, (wait_s, took)
    assert len(took) >= 3, took
    assert svc.store.query("SELECT value FROM meta WHERE key = 'other'") == [{"value": "x"}]
    svc.store.close()
