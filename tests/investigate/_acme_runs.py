"""The real state directory tests/investigate share, built through the CLI like tests/graph does.

Two root runs of tenant acme, each approved at the root and at its child by dora@acme:

- ``first``: the acme notice under the bundled root runbook (version 1), offline.
- ``second``: a revision of the notice that drops its "withdraw consent" paragraph (so a
  finding cites the legal-basis passage that makes the right owed), under version 2 of the
  root runbook, which adds a scan of the ``crm`` system and a step that spends money. It runs
  with a model configured (name, and an endpoint URL holding a password) and an API key in
  the environment; the root approval's comment carries a planted secret and e-mail address.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "graph"))

from _wardencli import ACME_NOTICE, REPO, TEST_ANALYSERS, Warden, acme_policy_data, write_yaml

NO_SCANNERS = ["policy_practices", "gdpr_transparency", "policy_to_runbook", *TEST_ANALYSERS]

ROOT_RUNBOOK = REPO / "runbooks" / "privacy-policy-review.yaml"
PLANTED_EMAIL = "jane.doe@example.com"
PLANTED_TOKEN = "sk-live-4f9XbQ2mR7tLzP0aW8cE"
API_KEY = "sk-proj-Zq81LmN0pQ7rS2tU5vW9xY3a"
DSN_PASSWORD = "hunter2-db-pass"
MODEL = "gpt-warden-test"
BASE_URL = f"https://warden:{DSN_PASSWORD}@llm.internal.example/v1"
SECOND_COMMENT = f"v2 reviewed; questions to {PLANTED_EMAIL}, deploy token {PLANTED_TOKEN}"


@dataclass(frozen=True)
class Investigated:
    """The state directory, the policy and the two root runs."""

    w: Warden
    policy: Path
    first: str
    second: str
    home: Path


def _runbook_v2() -> dict[str, Any]:
    data = yaml.safe_load(ROOT_RUNBOOK.read_text())
    data["version"] = 2
    extra = [
        {"id": "crm-scan", "analyser": "wtest_scan", "system": "crm", "config": {"tag": "crm-export"}},
        {"id": "llm-spend", "analyser": "wtest_costly", "config": {"usd": 0.25, "tag": "spend"}},
    ]
    data["steps"] = data["steps"][:-1] + extra + data["steps"][-1:]
    return data


def _notice_v2(path: Path) -> Path:
    text = ACME_NOTICE.read_text()
    paragraph = next(p for p in text.split("\n\n") if p.startswith("Right to withdraw consent"))
    path.write_text(text.replace(paragraph + "\n\n", ""))
    return path


def _approve_tree(w: Warden, root: str, comment: str) -> None:
    w.approve(root, "--comment", comment)
    w.approve(f"{root}.checks", "--comment", "system checks reviewed")
    assert w.run_row(root)["status"] == "completed", w.run_row(root)


def build(base: Path) -> Investigated:
    """Analyse and approve both trees under `base` (a dozen CLI processes: build once per session)."""
    # The system scanners are left out so each child run is the planner's bare re-labelling step:
    # the figures these tests expect stay fixed (tests/graph/test_system_gaps.py covers the scans).
    policy = write_yaml(base / "policy.yaml", acme_policy_data(analysers=NO_SCANNERS))
    home = base / "home"
    w = Warden(home=home, policy=policy)
    (first,) = w.analyse()
    _approve_tree(w, first["run_id"], "root runbook reviewed")

    runbook = write_yaml(base / "privacy-policy-review-v2.yaml", _runbook_v2())
    online = Warden(
        home=home,
        policy=policy,
        extra_env={"WARDEN_LLM_MODEL": MODEL, "OPENAI_BASE_URL": BASE_URL, "OPENAI_API_KEY": API_KEY},
    )
    (second,) = online.analyse(runbook, _notice_v2(base / "notice-revised.md"))
    _approve_tree(online, second["run_id"], SECOND_COMMENT)
    return Investigated(w, policy, first["run_id"], second["run_id"], home)
