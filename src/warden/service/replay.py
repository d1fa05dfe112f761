"""Re-executing a recorded run tree with no network, in a scratch state directory: ``warden replay``.

The replay never touches the real state directory: the store is copied to a scratch folder,
and the replayed tree lives, waits and is decided there, so it never enters the approval queue
and no decision is recorded in anyone's name where it counts. From what the store recorded
about the original it takes:

- the same documents (as stored, so a changed or deleted file does not matter), the same
  root runbook (its approved version), tenant and requester, and the policy the original was
  bound to;
- every model call is answered by :class:`~warden.llm.replay.ReplayChatModel` from the
  original's ``llm_calls`` rows, matched by request hash; a request that was never recorded
  fails the step with ``replay_missing``; replayed calls cost nothing;
- each approval the replay waits for is decided as it was recorded (same decision, approver
  and role, checked again like any decision) when the replayed draft has the sha256 that was
  approved; else the replay stops with ``replay_diverged``.

The findings of both trees are then compared byte for byte (run ids aside).
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from warden.errors import UsageError, WardenError
from warden.graph.engine import Outcome
from warden.llm.config import LlmSettings
from warden.llm.replay import ReplayChatModel
from warden.schemas.runbook import RunbookDefinition
from warden.service.principal import Principal
from warden.service.service import Service
from warden.store import approvals, audit, documents, findings, llm_calls, runs

__all__ = ["ReplayDiverged", "ReplayResult", "replay_run"]


class ReplayDiverged(WardenError):
    """The replayed run drafted something other than what was approved in the original."""

    code = "replay_diverged"


@dataclass(frozen=True)
class ReplayResult:
    """The replay tree, and how it compares with the original."""

    original_root: str
    outcome: Outcome
    original_status: str
    original_findings: str
    replay_findings: str
    unplayed_calls: int
    reason: str | None = None
    scratch: Path | None = None
    """The scratch state directory, when it was kept."""
    decisions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return self.original_findings == self.replay_findings and self.original_status == self.outcome.status


def _copy_store(service: Service, scratch: Path) -> None:
    """Copy the DuckDB file while a read connection keeps writers out; a Postgres ledger is
    exported into the scratch directory's DuckDB file (the replay never writes the ledger)."""
    if service.store.backend == "postgres":
        from warden.store.export import export_to_duckdb

        export_to_duckdb(service.store, scratch / service.store.path.name)
        return
    with service.store.connect(read_only=True):
        for suffix in ("", ".wal"):
            source = service.store.path.with_name(service.store.path.name + suffix)
            if source.exists():
                shutil.copy2(source, scratch / source.name)


def _replay_settings(
    service: Service, calls: list[dict[str, Any]], requested: dict[str, Any]
) -> tuple[LlmSettings, Any]:
    ok = [c for c in calls if c["outcome"] == "ok"] or calls
    model = requested.get("llm_model") or (ok[0]["model"] if ok else None)
    if not calls or model is None:
        return LlmSettings(), None
    settings = service.llm_settings.model_copy(
        update={
            "model": model,
            "base_url": None,
            "api_key": None,
            "max_output_tokens": ok[0]["max_tokens"],
            "temperature": ok[0]["temperature"],
            "planner": requested.get("llm_planner") or service.llm_settings.planner,
            "source": f"replay of {calls[0]['root_run_id']}",
        }
    )
    replayer = ReplayChatModel.from_rows(
        calls, model=model, max_tokens=ok[0]["max_tokens"], temperature=ok[0]["temperature"]
    )
    return settings, replayer


def _in_given_order(
    document_ids: list[str], requested: dict[str, Any], ingested: dict[str, Any] | None
) -> list[str]:
    """A document set's documents in the order they were given (the first names the set), as
    the original ingested them or a replay was asked for them; the store keeps them by id."""
    for order in (
        [d.get("id") for d in (ingested or {}).get("documents") or [] if isinstance(d, dict)],
        requested.get("documents") or [],
    ):
        if isinstance(order, list) and sorted(map(str, order)) == sorted(document_ids):
            return [str(d) for d in order]
    return document_ids


def replay_run(service: Service, p: Principal, run_id: str, *, keep: bool = False) -> ReplayResult:
    """Replay the tree of ``run_id`` (which `p` must be able to see) in a scratch directory."""
    row = service.visible_run(p, run_id)
    with service.store.connect(read_only=True) as con:
        root = runs.get_run(con, row["root_run_id"])
        assert root is not None
        approved = approvals.version_definition(
            con, root["tenant"], root["runbook"] or "", root["runbook_sha256"] or ""
        )
        document_ids = documents.document_ids_of_run(con, root["run_id"])
        requested = audit.last_payload(con, root["run_id"], "run_requested") or {}
        document_ids = _in_given_order(
            document_ids, requested, audit.last_payload(con, root["run_id"], "documents_ingested")
        )
        calls = llm_calls.calls_of_tree(con, root["run_id"])
    if approved is None:
        raise UsageError(
            f"run '{root['run_id']}' has no approved root runbook to replay (status {root['status']})",
            fix="replay a run whose root runbook was approved",
            code="not_replayable",
        )
    scratch = Path(tempfile.mkdtemp(prefix="warden-replay-"))
    try:
        _copy_store(service, scratch)
        settings, replayer = _replay_settings(service, calls, requested)
        twin = Service(
            scratch,
            ledger_url="",  # the scratch copy, never the real ledger
            catalogue=service.catalogue,
            llm_settings=settings,
            chat_model=replayer,
            replaying=replayer is not None,
        )
        bound = twin.policies.bound(root.get("policy_sha256"))
        request = {
            "document_ids": document_ids,
            "runbook": RunbookDefinition.model_validate(approved).model_dump(mode="json"),
            "replay_of": root["run_id"],
        }
        outcome = twin.start_request(root["requester"], root["tenant"], request, bound)
        decisions: list[dict[str, Any]] = []
        while outcome.waiting:
            waiting = outcome.waiting[0]
            original_run = root["run_id"] + waiting["run_id"][len(outcome.root_run_id) :]
            recorded = _recorded_decision(twin, root["run_id"], original_run, waiting)
            if recorded is None:
                break  # the original waited here too: so does the replay
            decisions.append(
                {
                    "run_id": waiting["run_id"],
                    "decision": recorded["decision"],
                    "approver": recorded["approver"],
                }
            )
            approver = twin.principal(recorded["approver"], recorded.get("auth") or "asserted")
            outcome = twin.decide(
                approver,
                waiting["run_id"],
                recorded["decision"],
                role=recorded["role"],
                comment=f"replay of the decision recorded for run {original_run} ({recorded['approval_id']})",
                edited_runbook=RunbookDefinition.model_validate(recorded["definition"])
                if recorded["decision"] == "edit"
                else None,
            )
        with twin.store.connect(read_only=True) as con:
            original_findings = findings.comparable_findings(con, root["run_id"])
            replay_findings = findings.comparable_findings(con, outcome.root_run_id)
            replayed = runs.get_run(con, outcome.root_run_id)
        unplayed = replayer.remaining() if isinstance(replayer, ReplayChatModel) else 0
        return ReplayResult(
            original_root=root["run_id"],
            outcome=outcome,
            original_status=root["status"],
            original_findings=original_findings,
            replay_findings=replay_findings,
            unplayed_calls=unplayed,
            reason=replayed["status_reason"] if replayed else None,
            scratch=scratch if keep else None,
            decisions=decisions,
        )
    finally:
        if not keep:
            shutil.rmtree(scratch, ignore_errors=True)


def _recorded_decision(
    twin: Service, original_root: str, original_run: str, waiting: dict[str, Any]
) -> dict[str, Any] | None:
    with twin.store.connect(read_only=True) as con:
        found = [
            a
            for a in approvals.approvals_of_tree(con, original_root)
            if a["run_id"] == original_run and not a["auto_rule"]
        ]
        if not found:
            return None
        last = dict(found[-1])
        last["definition"] = (
            approvals.version_definition(con, last["tenant"], last["runbook"], last["runbook_sha256"])
            if last["decision"] == "edit"
            else None
        )
    if last["decision"] == "approve" and last["runbook_sha256"] != waiting["runbook_sha256"]:
        raise ReplayDiverged(
            f"the replay of run '{original_run}' drafted runbook {waiting['runbook_sha256'][:12]}, "
            f"but {last['runbook_sha256'][:12]} was approved in the original",
            fix="review the original run's draft by hand",
        )
    return last
