"""The runbook's hash is computed once per invocation and model (`_common.runbook_sha256`), and
is always the model's own hash: a different model, even an equal one, is hashed for itself."""

from __future__ import annotations

from pathlib import Path

from warden.governance import load_policy
from warden.graph.context import RunContext
from warden.graph.nodes._common import runbook_sha256
from warden.runbooks.hashing import sha256_of
from warden.runbooks.load import read_runbook
from warden.schemas.runbook import RunbookDefinition
from warden.service.starting import DEFAULT_RUNBOOK, builtin_runbook
from warden.store import Store

REPO = Path(__file__).resolve().parents[2]


def test_each_model_gets_its_own_hash_once(tmp_path: Path) -> None:
    ctx = RunContext(
        store=Store(tmp_path / "w.duckdb"), policy=load_policy(REPO / "fixtures" / "acme" / "policy.yaml")
    )
    data = read_runbook(builtin_runbook(DEFAULT_RUNBOOK)).data
    model = RunbookDefinition.model_validate(data)
    assert runbook_sha256(ctx, model) == sha256_of(model)
    assert runbook_sha256(ctx, model) == sha256_of(model)  # reused
    edited = model.model_copy(update={"description": "edited by an approver"})
    assert runbook_sha256(ctx, edited) == sha256_of(edited) != sha256_of(model)
