"""Who approves a child run and under which names it may not be published: taken from the
state its parent gave it (checkpointed with it), never from the child's own draft."""

from __future__ import annotations

from typing import Any

from warden.graph.nodes.approval import approval_role, published_as_ancestor
from warden.graph.state import RunState
from warden.schemas.runbook import RunbookDefinition


def _book(name: str, role: str) -> RunbookDefinition:
    return RunbookDefinition.model_validate(
        {
            "runbook": name,
            "tenant": "acme",
            "approval": {"required_role": role},
            "steps": [{"id": "inner", "analyser": "policy_practices"}],
        }
    )


def _state(depth: int, **fields: Any) -> RunState:
    return RunState(run_id="r", root_run_id="r", depth=depth, tenant="acme", **fields)  # type: ignore[typeddict-item]


def test_a_child_is_approved_in_its_parents_role_whatever_it_names() -> None:
    child = _state(1, parent_role="dpo", ancestor_runbooks=["root"])
    assert approval_role(child, _book("checks", "analyst")) == "dpo"
    assert approval_role(_state(0, parent_role="dpo"), _book("root", "analyst")) == "analyst"
    # a child state checkpointed before the role was carried: its own role, as before
    assert approval_role(_state(1), _book("checks", "analyst")) == "analyst"


def test_a_child_named_after_a_runbook_above_it_may_not_be_approved() -> None:
    child = _state(2, parent_role="dpo", ancestor_runbooks=["root", "checks"])
    assert published_as_ancestor(child, _book("root", "dpo"))
    assert published_as_ancestor(child, _book("checks", "dpo"))
    assert published_as_ancestor(child, _book("deeper", "dpo")) is None
    assert published_as_ancestor(_state(0, ancestor_runbooks=["root"]), _book("root", "dpo")) is None
