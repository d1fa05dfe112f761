"""The offline planner: deterministic, explainable system checks from a labelled notice.

Each system of the tenant's inventory is scored by the topics it shares with the notice's
passages; implicated systems come first, every step says why and cites its passages. Text
from the notice never enters the runbook: reasons are built from topic names and ids only,
so an injected instruction in a notice has nothing to ride on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict

from warden.analyser import AnalyserContext
from warden.schemas.policy import System

__all__ = ["PlannerRules", "SystemMatch", "draft_runbook", "load_rules", "rank_systems"]


class PlannerRules(BaseModel):
    model_config = ConfigDict(extra="forbid")
    topics: dict[str, list[str]]
    scanners: dict[str, list[str]]
    comparison: str


@lru_cache(maxsize=1)
def load_rules() -> PlannerRules:
    return PlannerRules.model_validate(yaml.safe_load((Path(__file__).parent / "rules.yaml").read_text()))


@dataclass(frozen=True)
class SystemMatch:
    system: System
    topics: tuple[str, ...]
    passages: tuple[str, ...]


def _topics_in(text: str, rules: PlannerRules) -> set[str]:
    lowered = text.lower()
    return {
        topic
        for topic, words in rules.topics.items()
        if any(re.search(rf"\b{re.escape(w)}", lowered) for w in words)
    }


def rank_systems(
    passages: list[dict[str, Any]], systems: tuple[System, ...], rules: PlannerRules
) -> list[SystemMatch]:
    """Systems sharing topics with the notice first (most shared first), then the rest."""
    passage_topics = [(p["id"], _topics_in(p.get("text", ""), rules)) for p in passages]
    matches = []
    for system in systems:
        own = _topics_in(" ".join([system.id, system.description or "", *system.tags]), rules)
        shared = sorted({t for _, ts in passage_topics for t in ts} & own)
        cited = tuple(pid for pid, ts in passage_topics if ts & own)[:5]
        matches.append(SystemMatch(system, tuple(shared), cited))
    return sorted(matches, key=lambda m: (-len(m.topics), m.system.id))


def draft_runbook(labelled: dict[str, Any], ctx: AnalyserContext, max_steps: int = 50) -> dict[str, Any]:
    """A child runbook (runbook_definition data) that checks the implicated systems."""
    rules = load_rules()
    available = set(ctx.available_analysers)
    steps: list[dict[str, Any]] = [
        {
            "id": "practices",
            "analyser": "policy_practices",
            "input": ["document"],
            "description": "Label the notice again so the comparison below has the disclosures at hand.",
        }
    ]
    scan_ids: list[str] = []
    for match in rank_systems(labelled.get("passages", []), ctx.systems, rules):
        for analyser in rules.scanners.get(match.system.type, []):
            if analyser not in available or len(steps) >= max_steps:
                continue
            step_id = f"{analyser.replace('_', '-')}-{match.system.id}"[:64]
            reason = (
                f"The notice discusses {', '.join(match.topics)}, which system '{match.system.id}' holds."
                if match.topics
                else f"System '{match.system.id}' is in the inventory; the notice does not name it."
            )
            steps.append(
                {
                    "id": step_id,
                    "analyser": analyser,
                    "system": match.system.id,
                    "description": reason,
                    "cites": list(match.passages),
                }
            )
            scan_ids.append(step_id)
            break
    if scan_ids and rules.comparison in available and len(steps) < max_steps:
        steps.append(
            {
                "id": "disclosure-gap",
                "analyser": rules.comparison,
                "input": ["practices", *scan_ids],
                "description": "Compare what the systems hold and send with what the notice discloses.",
            }
        )
    runbook: dict[str, Any] = {
        "runbook": f"{ctx.tenant}-system-checks",
        "version": 1,
        "tenant": ctx.tenant,
        "description": "System checks drafted by the offline planner from the privacy notice.",
        "inputs": {"document": "document"},
        "steps": steps,
    }
    if ctx.approval_role:
        runbook["approval"] = {"required_role": ctx.approval_role}
    return runbook
