"""LLM refinement of passage labels: only unsure passages go to the model, in batches; it may
confirm or add labels from the vocabulary, never remove one; the rest is dropped."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from _cli import warden
from _loopback import Endpoint, Reply, completion
from _support import MODEL, analyse, query, service, settings, write_policy
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from warden_analysers.policy_practices.llm_refine import (
    ADDED_CONFIDENCE,
    CONFIRMED_CONFIDENCE,
    Candidate,
    refine,
    refine_labelled,
)

from warden.llm import LlmSession
from warden.schemas.practices import LabelledPassages


def _passage(pid: str, text: str, labels: dict[str, float]) -> dict[str, Any]:
    return {
        "id": pid,
        "index": int(pid[-1]),
        "text": text,
        "labels": [
            {
                "label": name,
                "confidence": conf,
                "evidence": [{"rule": f"r.{name}", "start": 0, "end": 4, "quote": text[:4]}],
            }
            for name, conf in labels.items()
        ],
    }


LABELLED = LabelledPassages.model_validate(
    {
        "document_id": "doc",
        "document_name": "notice.md",
        "labeller": "rules@0.1.0",
        "passages": [
            _passage("doc#p0", "We keep invoices for ten years.", {"retention": 0.95}),
            _passage("doc#p1", "Our processing rests on your consent.", {}),
            _passage("doc#p2", "You may ask us to delete what we hold.", {"right_access": 0.4}),
        ],
    }
)


def _fake(*answers: dict[str, Any]) -> GenericFakeChatModel:
    return GenericFakeChatModel(messages=iter([AIMessage(content=json.dumps(a)) for a in answers]))


def test_only_unsure_passages_are_sent_and_the_model_may_confirm_or_add_but_not_invent() -> None:
    records: list[Any] = []
    answer = {
        "passages": [
            {"key": "p1", "labels": ["legal_basis", "made_up_label"]},
            {"key": "p2", "labels": ["right_erasure", "right_access"]},
            {"key": "p7", "labels": ["retention"]},
        ]
    }
    session = LlmSession(settings(), model=_fake(answer), recorder=records.append)
    out = refine_labelled(LABELLED, session)
    (call,) = records
    prompt = call.messages[1]["content"]
    assert "Our processing rests" in prompt and "delete what we hold" in prompt
    assert "invoices" not in prompt  # the rules were sure of it
    sure, added, mixed = out.passages
    assert sure == LABELLED.passages[0]
    assert [(lab.label, lab.confidence) for lab in added.labels] == [("legal_basis", ADDED_CONFIDENCE)]
    assert added.labels[0].evidence[0].rule == f"llm:{MODEL}:added"
    assert [(lab.label, lab.confidence) for lab in mixed.labels] == [
        ("right_access", CONFIRMED_CONFIDENCE),
        ("right_erasure", ADDED_CONFIDENCE),
    ]
    assert [e.rule for e in mixed.labels[0].evidence] == ["r.right_access", f"llm:{MODEL}:confirmed"]
    assert out.labeller == f"rules@0.1.0+llm:{MODEL}"


def test_a_rule_label_the_model_does_not_repeat_is_kept() -> None:
    session = LlmSession(settings(), model=_fake({"passages": [{"key": "p2", "labels": []}]}))
    out = refine_labelled(LABELLED, session)
    assert [lab.label for lab in out.passages[2].labels] == ["right_access"]
    assert out.passages[2].labels[0].confidence == 0.4


def test_unsure_passages_go_in_batches() -> None:
    records: list[Any] = []
    candidates = [Candidate(f"c{i}", f"passage number {i}") for i in range(45)]
    session = LlmSession(settings(), model=_fake(*[{"passages": []}] * 3), recorder=records.append)
    assert refine(candidates, session, batch_size=20) == {}
    assert len(records) == 3
    assert records[2].messages[1]["content"].count('"key"') == 5


def _refine_runbook(tmp_path: Path) -> Path:
    """A one-step runbook: label the document with `refine: llm`."""
    runbook = tmp_path / "refine.yaml"
    runbook.write_text(
        yaml.safe_dump(
            {
                "runbook": "llm-review",
                "version": 1,
                "tenant": "acme",
                "inputs": {"document": "document"},
                "approval": {"required_role": "dpo"},
                "steps": [
                    {
                        "id": "practices",
                        "analyser": "policy_practices",
                        "input": "document",
                        "config": {"refine": "llm"},
                    }
                ],
            }
        )
    )
    return runbook


def test_refine_llm_in_a_runbook_runs_through_the_steps_session_and_the_ledger(tmp_path: Path) -> None:
    runbook = _refine_runbook(tmp_path)
    always = AIMessage(
        content='{"passages": []}',
        usage_metadata={"input_tokens": 100, "output_tokens": 10, "total_tokens": 110},
    )
    fake = GenericFakeChatModel(messages=itertools.repeat(always))
    svc = service(tmp_path, write_policy(tmp_path), settings(), chat_model=fake)
    outcome = analyse(svc, runbook)
    assert outcome.status == "completed"
    (step,) = query(svc, "SELECT output_json FROM steps WHERE run_id = ?", outcome.root_run_id)
    assert json.loads(step["output_json"])["labeller"].endswith(f"+llm:{MODEL}")
    calls = query(svc, "SELECT purpose, tokens_in FROM llm_calls WHERE run_id = ?", outcome.root_run_id)
    assert calls and {c["purpose"] for c in calls} == {"policy_practices.refine"}
    ledger = query(
        svc, "SELECT count(*) AS n FROM cost_ledger WHERE run_id = ? AND kind = 'llm'", outcome.root_run_id
    )
    assert ledger[0]["n"] == len(calls)


def test_refine_llm_without_a_model_for_the_tenant_fails_the_step_with_a_coded_error(tmp_path: Path) -> None:
    runbook = _refine_runbook(tmp_path)
    svc = service(tmp_path, write_policy(tmp_path, models=[]), settings())
    outcome = analyse(svc, runbook)
    (row,) = query(svc, "SELECT status, status_reason FROM runs WHERE run_id = ?", outcome.root_run_id)
    assert row["status"] == "failed" and "[model_unavailable]" in row["status_reason"]


def test_extract_passages_refine_llm_is_the_batch_contract_the_scorer_calls(
    tmp_path: Path, endpoint: Endpoint
) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text(
        "\n".join(
            json.dumps({"id": f"r{i}", "text": f"Lorem ipsum dolor {i}.", "context": []}) for i in range(3)
        )
        + "\n"
    )

    def labels_everything(body: dict[str, Any]) -> Reply:
        user = body["messages"][1]["content"]
        keys = [json.loads(line)["key"] for line in user.splitlines() if line.startswith("{")]
        return completion(
            json.dumps({"passages": [{"key": k, "labels": ["security", "bogus"]} for k in keys]})
        )

    endpoint.push(labels_everything)
    env = {"WARDEN_LLM_MODEL": MODEL, "OPENAI_BASE_URL": endpoint.url}
    done = warden(tmp_path / "home", "extract", "--passages", str(rows), "--refine", "llm", env=env)
    assert done.code == 0, str(done)
    out = [json.loads(line) for line in done.out.splitlines()]
    assert out == [{"id": f"r{i}", "labels": ["security"]} for i in range(3)]
    assert len(endpoint.requests) == 1
    assert f"refined with {MODEL}: 1 call(s)" in done.err


@pytest.mark.parametrize("args", [("--refine", "llm"), ("--refine", "maybe")])
def test_extract_refine_without_a_model_or_with_a_bad_value_is_a_usage_error(
    tmp_path: Path, args: tuple
) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"id": "a", "text": "x", "context": []}\n')
    done = warden(tmp_path / "home", "extract", "--passages", str(rows), *args)
    assert done.code == 2, str(done)
    assert "Traceback" not in done.err
