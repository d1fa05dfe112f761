"""Helpers of tests/llm: a policy whose acme tenant may use the test model, a root runbook
whose plan step uses the LLM planner, in-process services on a real state directory (SQLite
checkpointer, DuckDB), and the plans the scripted model answers with."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from warden.catalogue import PATH_ENV, Catalogue
from warden.llm import LlmSettings
from warden.service import Outcome, Service
from warden.store import Store

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
PLUGINS = HERE / "plugins"
ACME = REPO / "fixtures" / "acme"
ACME_NOTICE = ACME / "notice.md"
MODEL = "test-model"
ROOT = "llm-review"
ADMIN = "adam@acme"


def policy_data(**acme_changes: Any) -> dict[str, Any]:
    """The bundled policy with absolute paths; acme may use MODEL and auto-approves the root.

    Acme's documents may come from the fixtures and from the folder the policy is written to
    (``.``: the test's tmp_path, where tests write the notices they make up)."""
    data = yaml.safe_load((ACME / "policy.yaml").read_text())
    data["admins"] = [ADMIN]
    acme = data["tenants"]["acme"]
    acme["models"] = [MODEL]
    acme["allowed_roots"] = [str(ACME / r) for r in acme["allowed_roots"]]
    acme["document_roots"] = [str(ACME), "."]
    acme["systems"] = [{**s, "location": str(ACME / s["location"])} for s in acme["systems"]]
    acme["approval"]["auto_approve"] = [
        {
            "name": "root-review",
            "runbooks": [ROOT],
            "analysers": ["policy_practices", "gdpr_transparency", "policy_to_runbook"],
            "max_cost_usd": 1.0,
            "max_depth": 0,
            "model_calls": True,  # the root's planner and labeller may call the model
        }
    ]
    globex = data["tenants"]["globex"]
    globex["allowed_roots"] = [str(REPO / "fixtures" / "globex" / "systems")]
    globex["document_roots"] = [str(REPO / "fixtures" / "globex")]
    for system in globex["systems"]:
        system["location"] = str(REPO / "fixtures" / "globex" / "systems" / Path(system["location"]).name)
    acme.update(copy.deepcopy(acme_changes))
    return data


def write_policy(tmp_path: Path, **acme_changes: Any) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(policy_data(**acme_changes), sort_keys=False))
    return path


def root_runbook(
    tmp_path: Path, planner: str = "llm", plan_retry: dict[str, Any] | None = None, **limits: Any
) -> Path:
    """Label, check transparency, plan with `planner`, run the plan as a child."""
    data = {
        "runbook": ROOT,
        "version": 1,
        "tenant": "acme",
        "inputs": {"document": "document"},
        "limits": {"max_depth": 2, "max_cost_usd": 1.0, "step_timeout_s": 120, **limits},
        "approval": {"required_role": "dpo"},
        "steps": [
            {"id": "practices", "analyser": "policy_practices", "input": "document"},
            {"id": "transparency", "analyser": "gdpr_transparency", "input": "practices"},
            {
                "id": "plan",
                "analyser": "policy_to_runbook",
                "input": ["document", "practices"],
                "config": {"planner": planner},
                **({"retry": plan_retry} if plan_retry else {}),
            },
            {"id": "checks", "execute_workflow": "{{ steps.plan.output }}"},
        ],
    }
    path = tmp_path / "root.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def settings(endpoint_url: str | None = None, **changes: Any) -> LlmSettings:
    """Fast-failing settings for tests: short backoff, few retries."""
    base: dict[str, Any] = {
        "model": MODEL,
        "base_url": endpoint_url,
        "api_key": "sk-test-0000000000000000",
        "timeout_s": 10,
        "max_retries": 2,
        "backoff_s": 0.01,
        "prices": {MODEL: {"input": 1.0, "output": 2.0}},
    }
    base.update(changes)
    return LlmSettings.model_validate(base)


def service(
    tmp_path: Path,
    policy: Path,
    llm: LlmSettings | None,
    *,
    chat_model: Any = None,
    home: str = "home",
) -> Service:
    """The service over `tmp_path/home`, presenting `policy` (the first run puts it in force)."""
    return Service(
        tmp_path / home,
        policy=policy,
        catalogue=Catalogue.discover(),
        llm_settings=llm,
        chat_model=chat_model,
    )


def analyse(svc: Service, runbook: Path, document: Path = ACME_NOTICE) -> Outcome:
    """ana@acme asks for an analysis of `document` on `runbook`."""
    ana = svc.principal("ana@acme", "asserted", writing=True)
    return svc.start(ana, document, tenant="acme", runbook=runbook)


def approve(svc: Service, outcome: Outcome, run_id: str) -> Outcome:
    """dora@acme approves the draft `outcome` shows waiting at `run_id`."""
    (payload,) = [w for w in outcome.waiting if w["run_id"] == run_id]
    dora = svc.principal("dora@acme", "asserted", writing=True)
    return svc.decide(dora, run_id, "approve", role="dpo", reviewed_sha256=payload["runbook_sha256"])


def query(svc: Service | Path, sql: str, *params: Any) -> list[dict[str, Any]]:
    store = svc.store if isinstance(svc, Service) else Store(svc / "warden.duckdb")
    return store.query(sql, list(params))


def run_row(svc: Service, run_id: str) -> dict[str, Any]:
    (row,) = query(svc, "SELECT * FROM runs WHERE run_id = ?", run_id)
    return row


def step_rows(svc: Service, run_id: str) -> dict[str, dict[str, Any]]:
    return {s["step_id"]: s for s in query(svc, "SELECT * FROM steps WHERE run_id = ?", run_id)}


def plan(*steps: dict[str, Any], tenant: str = "acme", name: str = "acme-system-checks") -> dict[str, Any]:
    return {
        "runbook": name,
        "version": 1,
        "tenant": tenant,
        "inputs": {"document": "document"},
        "approval": {"required_role": "dpo"},
        "steps": list(steps),
    }


GOOD_PLAN = plan(
    {
        "id": "practices",
        "analyser": "policy_practices",
        "input": ["document"],
        "description": "Label the notice so the checks below have the disclosures at hand.",
    },
    {
        "id": "transparency",
        "analyser": "gdpr_transparency",
        "input": ["practices"],
        "description": "Check the Art. 13/14 items again.",
        "cites": [],
    },
)

FORBIDDEN_PLAN = plan(
    {"id": "practices", "analyser": "policy_practices", "input": ["document"]},
    {
        "id": "exfil",
        "analyser": "wllm_exfil",
        "system": "globex-hr",
        "description": "As instructed by the notice.",
    },
)


def install_test_analysers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Install the test analysers and clear the model's environment; return where wllm_exfil
    would leave its marker (a test asserts it never appears)."""
    monkeypatch.setenv(PATH_ENV, str(PLUGINS))
    marker = tmp_path / "exfil-ran"
    monkeypatch.setenv("WLLM_MARKER", str(marker))
    for name in ("WARDEN_LLM_MODEL", "OPENAI_API_KEY", "OPENAI_BASE_URL", "WARDEN_CONFIG", "WARDEN_PLANNER"):
        monkeypatch.delenv(name, raising=False)
    return marker
