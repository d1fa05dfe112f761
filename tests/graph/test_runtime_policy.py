"""Runtime.current_policy(): parsed again only when the file changed, so a kill switch set
mid-run still takes effect while unchanged files cost a byte comparison per step."""

from __future__ import annotations

from pathlib import Path

import yaml

from warden.governance import load_policy
from warden.graph.runtime import Runtime

REPO = Path(__file__).resolve().parents[2]


def test_an_unchanged_policy_is_not_parsed_again_and_a_changed_one_is(tmp_path: Path) -> None:
    data = yaml.safe_load((REPO / "fixtures" / "acme" / "policy.yaml").read_text())
    policy_path = tmp_path / "policy.yaml"
    policy_path.write_text(yaml.safe_dump(data))
    rt = Runtime(home=tmp_path / "home", policy=load_policy(policy_path))
    first = rt.current_policy()
    assert rt.current_policy() is first
    data["kill_switch"] = {"engaged": True, "reason": "incident 42"}
    policy_path.write_text(yaml.safe_dump(data))
    changed = rt.current_policy()
    assert changed is not first
    assert changed.kill_switch_reason("acme") == "incident 42"


def test_a_policy_broken_mid_run_keeps_the_last_good_one(tmp_path: Path) -> None:
    policy_path = tmp_path / "policy.yaml"
    policy_path.write_text((REPO / "fixtures" / "acme" / "policy.yaml").read_text())
    rt = Runtime(home=tmp_path / "home", policy=load_policy(policy_path))
    good = rt.current_policy()
    policy_path.write_text("tenants: [unclosed")
    assert rt.current_policy() is good
