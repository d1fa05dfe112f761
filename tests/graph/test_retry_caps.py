"""A step's retries stay under the tree's caps it was approved with: the time cap cuts each
attempt's timeout to the time left and sleeps no backoff past it (the run ends ``timed_out``,
its reason saying the cap ended the retries), and a retry is held to the cost cap as a new step
is (``budget_exceeded``). Each runbook is approved by the DPO through the service."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from _wardencli import ACME_NOTICE, PLUGINS, acme_policy_data, runbook, slow, write_yaml

from warden.catalogue import Catalogue
from warden.graph.engine import Outcome
from warden.service import Service
from warden.store import Store


def _approved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, book: dict[str, Any]) -> tuple[Outcome, float]:
    """The runbook started by Ana and approved by Dora; how it ended and how long it ran."""
    monkeypatch.setenv("WARDEN_ANALYSER_PATH", str(PLUGINS))
    policy = write_yaml(tmp_path / "policy.yaml", acme_policy_data())
    path = write_yaml(tmp_path / "book.yaml", book)
    service = Service(tmp_path / "home", policy=policy, catalogue=Catalogue.discover())
    ana, dora = service.principal("ana@acme", writing=True), service.principal("dora@acme")
    started = service.start(ana, ACME_NOTICE, tenant="acme", runbook=path)
    assert started.status == "waiting_approval", started
    began = time.monotonic()
    outcome = service.decide(dora, started.root_run_id, "approve", role="dpo")
    return outcome, time.monotonic() - began


def _rows(tmp_path: Path, sql: str, *params: Any) -> list[dict[str, Any]]:
    return Store(tmp_path / "home" / "warden.duckdb").query(sql, list(params))


def test_a_backoff_that_would_pass_the_time_cap_ends_the_retries_timed_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    retry = {"max_attempts": 3, "backoff_s": 2.5, "retry_on": ["timeout"]}
    book = runbook(
        "backoff-capped", [slow("stuck", seconds=30, timeout_s=1, retry=retry)], limits={"max_duration_s": 3}
    )
    outcome, took = _approved(tmp_path, monkeypatch, book)
    # before: 1 s + 2.5 s + 1 s + 5 s + 1 s, and the run `failed` as if the cap were not there
    assert outcome.status == "timed_out", outcome
    # the whole decision, wall time: 1 s of attempt and the graph's work; a run that slept the
    # 2.5 s backoff takes 3.5 s or more (the step's own duration is checked below, < 2.5 s)
    assert took < 3.4, f"the tree capped at 3 s ran for {took:.1f} s: the backoff was slept"
    assert outcome.reason is not None
    assert "the run tree's 3s time cap ended its retries after attempt 1 of 3" in outcome.reason
    assert "a 2.5s backoff" in outcome.reason and "StepTimeout" in outcome.reason
    (step,) = _rows(tmp_path, "SELECT * FROM steps WHERE run_id = ?", outcome.root_run_id)
    assert (step["status"], step["attempts"]) == ("timed_out", 1)
    assert step["duration_s"] < 2.5
    failed = _rows(
        tmp_path,
        "SELECT * FROM audit_events WHERE run_id = ? AND event = 'step_attempt_failed'",
        outcome.root_run_id,
    )
    assert len(failed) == 1


def test_an_attempt_cut_to_the_time_left_is_not_tried_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    retry = {"max_attempts": 3, "backoff_s": 0, "retry_on": ["timeout"]}
    book = runbook("attempt-capped", [slow("stuck", seconds=30, retry=retry)], limits={"max_duration_s": 1.5})
    outcome, took = _approved(tmp_path, monkeypatch, book)
    # before: every attempt was given the whole 1.5 s again (4.5 s)
    assert outcome.status == "timed_out", outcome
    assert took < 1.5 + 1.5, f"the tree capped at 1.5 s ran its step for {took:.1f} s"
    assert (
        outcome.reason is not None
        and "ended its retries after attempt 1 of 3 (no time left" in outcome.reason
    )
    (step,) = _rows(tmp_path, "SELECT * FROM steps WHERE run_id = ?", outcome.root_run_id)
    assert (step["status"], step["attempts"]) == ("timed_out", 1)


def test_a_retry_is_held_to_the_cost_cap_as_a_new_step_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    retry = {"max_attempts": 5, "backoff_s": 0, "retry_on": ["error"]}
    spend = {"id": "spend", "analyser": "wtest_costly", "config": {"usd": 0.4, "fail": True}, "retry": retry}
    book = runbook("cost-capped", [spend], limits={"max_cost_usd": 1.0})
    outcome, _ = _approved(tmp_path, monkeypatch, book)
    # before: five attempts spent $2.00 under a $1.00 cap and the run `failed`
    spent = _rows(
        tmp_path, "SELECT SUM(amount_usd) AS usd FROM cost_ledger WHERE root_run_id = ?", outcome.root_run_id
    )
    assert outcome.status == "budget_exceeded", outcome
    assert (
        outcome.reason is not None
        and "a retry (est. $0.0000) would pass the cap of $1.0000" in outcome.reason
    )
    # $0.40 and $0.80 left room for another attempt; $1.20 did not
    assert spent[0]["usd"] == pytest.approx(1.2)
    (step,) = _rows(tmp_path, "SELECT * FROM steps WHERE run_id = ?", outcome.root_run_id)
    assert (step["status"], step["attempts"]) == ("failed", 3)
