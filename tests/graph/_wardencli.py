"""Helpers for tests/graph: every command runs as `python -m warden ...` in a fresh process.

Each test (or module fixture) gets its own WARDEN_HOME under tmp_path, so the SQLite
checkpointer and the DuckDB file are real files that nothing else touches. The test-only
analysers in ``plugins/`` are found through WARDEN_ANALYSER_PATH.

The state directory holds the policy in force: the first `warden analyse` initialises it from
the Warden's policy file (the helper passes ``--policy`` to `analyse` only); changing it later
is `warden policy apply` / `warden policy kill-switch` by an admin (``ADMIN``). Reading
commands need an identity: the helper sets WARDEN_USER to acme's DPO unless a test says
otherwise (an explicit ``--as`` always wins).
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from warden.store import Store

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
PLUGINS = HERE / "plugins"
ACME_NOTICE = REPO / "fixtures" / "acme" / "notice.md"
ACME_POLICY = REPO / "fixtures" / "acme" / "policy.yaml"
TIMEOUT_S = 120
DEFAULT_USER = "dora@acme"
"""Who reading commands run as when a test passes no ``--as``."""
ADMIN = "adam@acme"
"""The admin the bundled policy names: the one who may apply policies and kill switches."""
TMP_DOCUMENT_ROOTS: list[str] = []


def allow_documents_under(root: Path) -> None:
    """Let acme_policy_data's acme read documents the tests write under `root` (pytest's temp)."""
    resolved = str(root.resolve())
    if resolved not in TMP_DOCUMENT_ROOTS:
        TMP_DOCUMENT_ROOTS.append(resolved)


"""Folders the tests write documents to (pytest's base temp folder, set by the conftests):
`acme_policy_data` lists them among acme's document roots."""

TEST_ANALYSERS = ["wtest_slow", "wtest_scan", "wtest_costly", "wtest_emit"]


@dataclass
class Done:
    """A finished command: exit code and output."""

    args: tuple[str, ...]
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def __str__(self) -> str:
        return f"warden {' '.join(self.args)} -> {self.code}\nstdout:\n{self.out}\nstderr:\n{self.err}"


@dataclass
class Warden:
    """Runs the CLI in fresh processes against one state directory."""

    home: Path
    policy: Path | None = None
    extra_env: dict[str, str | None] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("WARDEN_") or k == "WARDEN_LEDGER_URL"}
        env.update(
            WARDEN_HOME=str(self.home),
            WARDEN_ANALYSER_PATH=str(PLUGINS),
            WARDEN_USER=DEFAULT_USER,
            COLUMNS="200",
            NO_COLOR="1",
        )
        env.update(self.extra_env)  # may override the defaults above (e.g. WARDEN_ANALYSER_PATH)
        return {k: v for k, v in env.items() if v is not None}  # None in extra_env: unset

    def _argv(self, args: tuple[str, ...]) -> list[str]:
        argv = [sys.executable, "-m", "warden", *args]
        # the first analysis initialises the state directory with this policy; later ones
        # present the same file (refused with policy_mismatch once another is in force)
        if self.policy is not None and args and args[0] == "analyse":
            argv += ["--policy", str(self.policy)]
        return argv

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self._argv(args),
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )

    def wait(self, proc: subprocess.Popen[str], args: tuple[str, ...] = ()) -> Done:
        out, err = proc.communicate(timeout=TIMEOUT_S)
        return Done(args, proc.returncode, out, err)

    def run(self, *args: str, ok: bool | None = True) -> Done:
        """Run to completion; by default the command must exit 0 (pass ok=None to accept any)."""
        done = self.wait(self.popen(*args), args)
        if ok is True:
            assert done.code == 0, str(done)
        return done

    def analyse(self, runbook: Path | None = None, *documents: Path) -> list[dict[str, Any]]:
        """Start one run per document (the acme notice by default; several are not one set here:
        --each); one JSON outcome each."""
        args = ["analyse", *(str(d) for d in documents or (ACME_NOTICE,)), "--each", "--tenant", "acme"]
        args += ["--as", "ana@acme", "--json"]
        if runbook is not None:
            args += ["--runbook", str(runbook)]
        done = self.run(*args, ok=None)
        assert done.code in (0, 1), str(done)
        return [json.loads(line) for line in done.out.splitlines() if line.startswith("{")]

    def approve(self, run_id: str, *extra: str, ok: bool | None = True) -> Done:
        return self.run("approve", run_id, "--as", "dora@acme", "--role", "dpo", *extra, ok=ok)

    def kill_switch(self, action: str, reason: str, *extra: str, ok: bool | None = True) -> Done:
        """`warden policy kill-switch engage|release --reason R --as ADMIN` (every tenant unless
        `extra` names one with --tenant)."""
        return self.run("policy", "kill-switch", action, "--reason", reason, "--as", ADMIN, *extra, ok=ok)

    def apply_policy(self, path: Path, reason: str = "tests", ok: bool | None = True) -> Done:
        """`warden policy apply PATH --as ADMIN`: put another policy in force."""
        return self.run("policy", "apply", str(path), "--reason", reason, "--as", ADMIN, ok=ok)

    # Reads go straight to the DuckDB file (read-only, waiting for writers like the CLI does).
    def query(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        return Store(self.home / "warden.duckdb").query(sql, list(params))

    def run_row(self, run_id: str) -> dict[str, Any]:
        found = self.query("SELECT * FROM runs WHERE run_id = ?", run_id)
        assert found, f"no run {run_id}"
        return found[0]

    def steps(self, run_id: str) -> dict[str, dict[str, Any]]:
        return {s["step_id"]: s for s in self.query("SELECT * FROM steps WHERE run_id = ?", run_id)}

    def findings(self, run_id: str) -> list[dict[str, Any]]:
        return self.query(
            "SELECT run_id, finding_id, step_id, code FROM findings WHERE root_run_id = ? "
            "ORDER BY run_id, finding_id",
            run_id,
        )

    def audit(self, run_id: str) -> list[dict[str, Any]]:
        return self.query("SELECT * FROM audit_events WHERE run_id = ? ORDER BY seq", run_id)

    def wait_for(self, sql: str, *params: Any, timeout_s: float = 60) -> list[dict[str, Any]]:
        """Poll until the query returns rows."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if (self.home / "warden.duckdb").exists():
                found = self.query(sql, *params)
                if found:
                    return found
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for: {sql} {params}")


def acme_policy_data(**tenant_changes: Any) -> dict[str, Any]:
    """The bundled policy, with the test analysers allowed for acme and `tenant_changes` applied.

    Its paths are absolute (the file is written elsewhere); acme's documents may come from the
    acme fixtures, the bundled notices and the tests' temp folders; adam@acme is its admin."""
    data = yaml.safe_load(ACME_POLICY.read_text())
    data["admins"] = [ADMIN]
    acme = data["tenants"]["acme"]
    acme["analysers"] = [*acme["analysers"], *TEST_ANALYSERS]
    acme["allowed_roots"] = [str(REPO / "fixtures" / "acme" / r) for r in acme["allowed_roots"]]
    acme["document_roots"] = [
        *(str((REPO / "fixtures" / "acme" / r).resolve()) for r in acme["document_roots"]),
        str(REPO / "fixtures" / "notices"),
        *TMP_DOCUMENT_ROOTS,
    ]
    data["tenants"]["globex"]["document_roots"] = [str(REPO / "fixtures" / "globex")]
    acme["systems"] = [
        {**s, "location": str(REPO / "fixtures" / "acme" / s["location"])} for s in acme["systems"]
    ]
    data["tenants"]["globex"]["allowed_roots"] = [str(REPO / "fixtures" / "globex" / "systems")]
    for system in data["tenants"]["globex"]["systems"]:
        system["location"] = str(REPO / "fixtures" / "globex" / "systems" / Path(system["location"]).name)
    acme.update(copy.deepcopy(tenant_changes))
    return data


def write_yaml(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def auto_rule(name: str, runbooks: list[str], max_depth: int = 0, max_cost_usd: float = 1.0) -> dict:
    """An auto-approval rule for the test analysers (so a cap test needs no approve process)."""
    return {
        "name": name,
        "runbooks": runbooks,
        "analysers": [*TEST_ANALYSERS, "policy_practices", "gdpr_transparency", "policy_to_runbook"],
        "max_cost_usd": max_cost_usd,
        "max_depth": max_depth,
    }


def runbook(name: str, steps: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    """A runbook for acme approved by the dpo (inputs: the analysed document)."""
    return {
        "runbook": name,
        "version": 1,
        "tenant": "acme",
        "inputs": {"document": "document"},
        "approval": {"required_role": "dpo"},
        **fields,
        "steps": steps,
    }


def slow(step_id: str, seconds: float = 0, until: str | None = None, **fields: Any) -> dict[str, Any]:
    """A wtest_slow step: sleeps `seconds`, or until a file named `until` exists in the directory
    ``$WTEST_SIGNALS`` names (at most `seconds`)."""
    config: dict[str, Any] = {"seconds": seconds, "tag": step_id, **({"until": until} if until else {})}
    return {"id": step_id, "analyser": "wtest_slow", "config": config, **fields}
