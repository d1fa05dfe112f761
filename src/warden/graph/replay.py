"""Re-executing a recorded run tree with no network: ``warden replay RUN``.

The replay is a new run tree built from what the store recorded about the original:

- the same documents (as stored, so a changed or deleted file does not matter), the same
  root runbook (its approved version), tenant and requester;
- every model call is answered by :class:`~warden.llm.replay.ReplayChatModel` from the
  original's ``llm_calls`` rows, matched by request hash; failures are replayed too, so
  retries and the json_schema -> function_calling fallback take the same path; a request
  that was never recorded fails the step with ``replay_missing``; replayed calls cost nothing;
- each approval the replay waits for is decided as it was recorded: the same decision by the
  same approver in the same role, checked against today's policy like any decision, and only
  when the replayed draft has the sha256 that was approved (else the replay stops with
  ``replay_diverged`` and the run keeps waiting for a human). Decisions the policy took
  (auto-approval rules) are taken by the policy again.

The findings of both trees are then compared byte for byte (run ids aside).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from warden.errors import UsageError, WardenError
from warden.governance.policy import LoadedPolicy
from warden.graph.ids import new_run_id
from warden.graph.nodes._common import record
from warden.graph.runtime import Runtime
from warden.graph.service import Outcome, _config, _settle, decide
from warden.graph.state import RunState
from warden.llm.config import LlmSettings
from warden.llm.replay import ReplayChatModel
from warden.schemas.approval import ApprovalDecision
from warden.schemas.runbook import RunbookDefinition
from warden.store import approvals, llm_calls, runs

__all__ = ["ReplayDiverged", "ReplayResult", "comparable_findings", "replay_run"]

_VERSION_SQL = "SELECT definition_json FROM runbook_versions WHERE tenant = ? AND runbook = ? AND sha256 = ?"

_FINDING_FIELDS = (
    "step_id",
    "finding_id",
    "analyser",
    "code",
    "title",
    "severity",
    "category",
    "message",
    "article",
    "data_category",
    "system_id",
    "evidence_json",
    "details_json",
)


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
    decisions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return self.original_findings == self.replay_findings and self.original_status == self.outcome.status


def comparable_findings(con: Any, root_run_id: str) -> str:
    """The tree's findings as canonical JSON, each under its run's path below the root."""
    rows = con.execute(
        f"""SELECT run_id, {", ".join(_FINDING_FIELDS)} FROM findings WHERE root_run_id = ?
            ORDER BY run_id, finding_id""",
        [root_run_id],
    ).fetchall()
    out = [
        {"run": row[0][len(root_run_id) :], **dict(zip(_FINDING_FIELDS, row[1:], strict=True))}
        for row in rows
    ]
    return json.dumps(out, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _original(
    rt: Runtime, run_id: str
) -> tuple[dict[str, Any], RunbookDefinition, list[str], dict[str, Any]]:
    with rt.store.connect(read_only=True) as con:
        row = runs.get_run(con, run_id)
        if row is None:
            raise UsageError(f"no run '{run_id}'", fix="list runs with `warden runs`", code="unknown_run")
        root = runs.get_run(con, row["root_run_id"])
        assert root is not None
        version = con.execute(
            _VERSION_SQL,
            [root["tenant"], root["runbook"], root["runbook_sha256"]],
        ).fetchone()
        documents = [
            r[0]
            for r in con.execute(
                "SELECT document_id FROM run_documents WHERE run_id = ? ORDER BY document_id",
                [root["run_id"]],
            ).fetchall()
        ]
        requested = con.execute(
            "SELECT payload_json FROM audit_events WHERE run_id = ? AND event = 'run_requested'",
            [root["run_id"]],
        ).fetchone()
    if version is None:
        raise UsageError(
            f"run '{root['run_id']}' has no approved root runbook to replay (status {root['status']})",
            fix="replay a run whose root runbook was approved",
            code="not_replayable",
        )
    return (
        root,
        RunbookDefinition.model_validate(json.loads(version[0])),
        documents,
        json.loads(requested[0]) if requested else {},
    )


def _replay_runtime(
    rt: Runtime, policy: LoadedPolicy, calls: list[dict[str, Any]], requested: dict
) -> Runtime:
    ok = [c for c in calls if c["outcome"] == "ok"] or calls
    model = requested.get("llm_model") or (ok[0]["model"] if ok else None)
    if not calls or model is None:
        return Runtime(home=rt.home, policy=policy, catalogue=rt.catalogue, llm_settings=LlmSettings())
    current = rt.llm_settings or LlmSettings()
    settings = current.model_copy(
        update={
            "model": model,
            "base_url": None,
            "api_key": None,
            "max_output_tokens": ok[0]["max_tokens"],
            "temperature": ok[0]["temperature"],
            "planner": requested.get("llm_planner") or current.planner,
            "source": f"replay of {calls[0]['root_run_id']}",
        }
    )
    replayer = ReplayChatModel.from_rows(
        calls, model=model, max_tokens=ok[0]["max_tokens"], temperature=ok[0]["temperature"]
    )
    return Runtime(
        home=rt.home,
        policy=policy,
        catalogue=rt.catalogue,
        llm_settings=settings,
        chat_model=replayer,
        replaying=True,
    )


def _start(rt: Runtime, root: dict[str, Any], runbook: RunbookDefinition, documents: list[str]) -> Outcome:
    rt.graph()  # open the checkpoint file first: a faulty one must not leave a run row behind
    run_id = new_run_id()
    with rt.store.connect() as con:
        runs.create_run(
            con, runs.RunRow(run_id, run_id, None, None, 0, run_id, "", root["tenant"], root["requester"])
        )
        for document_id in documents:
            con.execute(
                "INSERT INTO run_documents VALUES (?, ?) ON CONFLICT DO NOTHING", [run_id, document_id]
            )
        record(
            con,
            {"run_id": run_id, "root_run_id": run_id, "tenant": root["tenant"]},
            "run_requested",
            actor=root["requester"],
            payload={
                "replay_of": root["run_id"],
                "documents": documents,
                "policy_sha256": rt.policy.sha256,
                "llm_model": rt.llm_model,
            },
        )
    state: RunState = {
        "run_id": run_id,
        "root_run_id": run_id,
        "parent_run_id": None,
        "parent_step_id": None,
        "depth": 0,
        "tenant": root["tenant"],
        "requester": root["requester"],
        "document_paths": [],
        "document_ids": documents,
        "runbook": runbook.model_dump(mode="json"),
        "status": "running",
    }
    result = rt.graph().invoke(state, _config(run_id), durability="sync")
    return _settle(rt, run_id, result)


def _recorded_decision(
    rt: Runtime, original_root: str, original_run: str, waiting: dict[str, Any]
) -> ApprovalDecision | None:
    with rt.store.connect(read_only=True) as con:
        found = [
            a
            for a in approvals.approvals_of_tree(con, original_root)
            if a["run_id"] == original_run and not a["auto_rule"]
        ]
        if not found:
            return None
        last = found[-1]
        edited = None
        if last["decision"] == "edit":
            version = con.execute(
                _VERSION_SQL,
                [last["tenant"], last["runbook"], last["runbook_sha256"]],
            ).fetchone()
            edited = RunbookDefinition.model_validate(json.loads(version[0]))
    if last["decision"] == "approve" and last["runbook_sha256"] != waiting["runbook_sha256"]:
        raise ReplayDiverged(
            f"the replay of run '{original_run}' drafted runbook {waiting['runbook_sha256'][:12]}, "
            f"but {last['runbook_sha256'][:12]} was approved in the original",
            fix=f"review it by hand: `warden review {waiting['run_id']}`",
        )
    return ApprovalDecision(
        decision=last["decision"],
        approver=last["approver"],
        role=last["role"],
        runbook_sha256=waiting["runbook_sha256"],
        comment=f"replay of the decision recorded for run {original_run} ({last['approval_id']})",
        edited_runbook=edited,
    )


def replay_run(rt: Runtime, run_id: str) -> ReplayResult:
    """Replay the tree of ``run_id`` under ``rt``'s policy, deciding approvals as recorded."""
    root, runbook, documents, requested = _original(rt, run_id)
    with rt.store.connect(read_only=True) as con:
        calls = llm_calls.calls_of_tree(con, root["run_id"])
    replay_rt = _replay_runtime(rt, rt.current_policy(), calls, requested)
    outcome = _start(replay_rt, root, runbook, documents)
    decisions: list[dict[str, Any]] = []
    while outcome.waiting:
        waiting = outcome.waiting[0]
        original_run = root["run_id"] + waiting["run_id"][len(outcome.root_run_id) :]
        decision = _recorded_decision(replay_rt, root["run_id"], original_run, waiting)
        if decision is None:
            break  # the original waited here too (or a human decided nothing): so does the replay
        decisions.append(
            {"run_id": waiting["run_id"], "decision": decision.decision, "approver": decision.approver}
        )
        outcome = decide(replay_rt, waiting["run_id"], decision)
    with rt.store.connect(read_only=True) as con:
        original_findings = comparable_findings(con, root["run_id"])
        replay_findings = comparable_findings(con, outcome.root_run_id)
        original_status = runs.get_run(con, root["run_id"])["status"]  # type: ignore[index]
    unplayed = replay_rt.chat_model.remaining() if isinstance(replay_rt.chat_model, ReplayChatModel) else 0
    return ReplayResult(
        original_root=root["run_id"],
        outcome=outcome,
        original_status=original_status,
        original_findings=original_findings,
        replay_findings=replay_findings,
        unplayed_calls=unplayed,
        decisions=decisions,
    )
