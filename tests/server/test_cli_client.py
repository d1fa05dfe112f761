"""The CLI as a client: with WARDEN_SERVER and WARDEN_TOKEN set, the commands call the server
(the state directory named by WARDEN_HOME is never opened), and --as is refused."""

from __future__ import annotations

import json
from pathlib import Path

from tests.server.conftest import NOTICE, Live
from typer.testing import CliRunner

from warden.cli import app


def _run(live: Live, user: str, args: list[str], tmp_path: Path) -> tuple[int, str, str]:
    env = {
        "WARDEN_SERVER": live.url,
        "WARDEN_TOKEN": live.tokens[user],
        "WARDEN_HOME": str(tmp_path / "not-used"),  # a client opens no state directory
        "WARDEN_USER": None,
        "WARDEN_POLICY": None,
        "COLUMNS": "200",
        "NO_COLOR": "1",
    }
    result = CliRunner(env=env).invoke(app, args, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_analyse_review_approve_findings_through_the_server(live: Live, tmp_path: Path) -> None:
    code, out, err = _run(live, "ana@acme", ["analyse", str(NOTICE), "--tenant", "acme", "--json"], tmp_path)
    assert code == 0, err
    started = json.loads(out.splitlines()[-1])
    root = started["run_id"]
    assert started["status"] == "waiting_approval" and started["waiting"][0]["run_id"] == root

    code, out, err = _run(live, "dora@acme", ["runs", "--status", "waiting_approval", "--json"], tmp_path)
    assert code == 0 and root in [r["run_id"] for r in json.loads(out)], err
    code, out, err = _run(live, "dora@acme", ["review", root, "--json"], tmp_path)
    assert code == 0 and json.loads(out)["required_role"] == "dpo", err

    code, out, err = _run(live, "ana@acme", ["approve", root, "--role", "dpo"], tmp_path)
    assert code == 1 and "refused" in err  # the requester may not approve her own run
    code, out, err = _run(live, "dora@acme", ["approve", root, "--role", "dpo", "--comment", "ok"], tmp_path)
    assert code == 0 and f"approved run {root} as dora@acme" in out, err
    code, out, err = _run(live, "dora@acme", ["approve", f"{root}.checks", "--role", "dpo"], tmp_path)
    assert code == 0 and "completed" in out, err

    code, out, err = _run(live, "ana@acme", ["findings", root, "--json", "--min-severity", "low"], tmp_path)
    assert code == 0 and json.loads(out), err
    code, out, err = _run(live, "gwen@globex", ["findings", root, "--json"], tmp_path)
    assert code == 2 and "unknown_run" in err and out == ""
    assert not (tmp_path / "not-used").exists()


def test_cancel_and_reject_through_the_server(live: Live, tmp_path: Path) -> None:
    first, second = live.waiting_run(), live.waiting_run()
    code, out, err = _run(live, "ana@acme", ["cancel", first, "--reason", "duplicate"], tmp_path)
    assert code == 0 and "cancelled" in out, err
    code, out, err = _run(
        live, "dora@acme", ["reject", second, "--role", "dpo", "--reason", "scope"], tmp_path
    )
    assert code == 0, err
    assert live.settle("dora@acme", second)[0]["status"] == "rejected"


def test_as_is_refused_when_talking_to_a_server(live: Live, tmp_path: Path) -> None:
    code, _, err = _run(live, "ana@acme", ["runs", "--as", "dora@acme"], tmp_path)
    assert code == 2 and "--as cannot be used with a Warden server" in err


def test_a_bad_token_is_a_usage_error(live: Live, tmp_path: Path) -> None:
    live.tokens["bogus"] = "wdn_000000000000_nope"
    code, _, err = _run(live, "bogus", ["runs"], tmp_path)
    assert code == 2 and "bad_credentials" in err
