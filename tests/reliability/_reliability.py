"""Helpers of tests/reliability: policies, run outcomes in comparable form, child rusage."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

from _wardencli import ACME_NOTICE, Warden, acme_policy_data

from warden.testing import PEAK_RSS_PRELUDE, split_peak_rss


def auto_policy(**tenant_changes: Any) -> dict[str, Any]:
    """The acme policy with an auto-approval rule covering every analyser acme may run, so one
    `warden analyse` runs a whole tree (root and generated child) without a human."""
    data = acme_policy_data(**tenant_changes)
    acme = data["tenants"]["acme"]
    acme["approval"]["auto_approve"] = [
        {"name": "reliability", "analysers": list(acme["analysers"]), "max_cost_usd": 5.0, "max_depth": 3}
    ]
    return data


def analyse_args(*extra: str) -> tuple[str, ...]:
    return ("analyse", str(ACME_NOTICE), "--tenant", "acme", "--as", "ana@acme", "--json", *extra)


def root_ids(w: Warden) -> list[str]:
    return [
        r["run_id"] for r in w.query("SELECT run_id FROM runs WHERE parent_run_id IS NULL ORDER BY run_id")
    ]


def outcome(w: Warden, root: str) -> dict[str, Any]:
    """Everything a finished tree leaves in the store, with run ids relative to its root."""

    def rel(run_id: str) -> str:
        return run_id.replace(root, "ROOT")

    runs = w.query("SELECT run_id, status, runbook_sha256 FROM runs WHERE root_run_id = ?", root)
    found = w.query(
        "SELECT run_id, step_id, finding_id, code, severity, message FROM findings WHERE root_run_id = ?",
        root,
    )
    steps = w.query(
        "SELECT s.run_id, s.step_id, s.status, s.output_json FROM steps s JOIN runs r USING (run_id) "
        "WHERE r.root_run_id = ?",
        root,
    )
    return {
        "runs": sorted((rel(r["run_id"]), r["status"], r["runbook_sha256"]) for r in runs),
        "findings": sorted(
            (rel(f["run_id"]), f["step_id"], f["finding_id"], f["code"], f["severity"], f["message"])
            for f in found
        ),
        "steps": sorted(
            (rel(s["run_id"]), s["step_id"], s["status"], rel(s["output_json"] or "")) for s in steps
        ),
    }


def duplicated_events(w: Warden, root: str) -> list[tuple[str, str, int]]:
    """Audit events that must happen once per run but were recorded more often."""
    once = ("approval:approve", "approval:reject", "approval:edit", "run_finished", "documents_ingested")
    rows = w.query(
        "SELECT run_id, event, count(*) AS n FROM audit_events WHERE root_run_id = ? GROUP BY ALL", root
    )
    return [(r["run_id"], r["event"], r["n"]) for r in rows if r["event"] in once and r["n"] > 1]


@dataclass
class Measured:
    """A finished `warden` process with its wall time and peak resident memory."""

    code: int
    out: str
    err: str
    wall_s: float
    peak_rss_mb: float


def run_warden_measured(args: list[str], env: dict[str, str], timeout_s: float = 300) -> Measured:
    """Run `warden ARGS` in a fresh process; measure its wall time and its own peak RSS."""
    started = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, "-c", PEAK_RSS_PRELUDE, *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"warden {args} ran past {timeout_s}s (a hang guard, not a timing)") from exc
    wall = time.perf_counter() - started
    err, peak_mb = split_peak_rss(done.stderr)
    assert peak_mb is not None, done.stderr
    return Measured(done.returncode, done.stdout, err, wall, peak_mb)
