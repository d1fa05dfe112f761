"""Attacks on the approve-with-edit path and the caps, as an approver or requester who wants
more than the policy allows: the CLI (`warden approve RUN --runbook FILE`) and the service's
`decide` (which the API decision route and the review page's edit form call through
`claim_decision`). Each defect the review confirmed is one test asserting the secure
behaviour; all three are fixed and stay as regression tests (they were strict xfails): an edit
may not change which runbook or tenant it is (`edit_identity_error`, checked at claim time and
in the graph), a system outside the tenant's inventory gets one answer whoever has it, and
non-finite numbers are refused wherever runbook data is read (`plain_data_problem`), so the
claim-time check is the graph's. The attacks that held are listed in the module's final comment.

Real stores: the service over a private copy of Acme (DuckDB, SQLite), the live server of
tests/server (uvicorn, HTTP), the `warden` CLI in subprocesses; no mocks.
"""

from __future__ import annotations

import contextlib
import copy
import json
from pathlib import Path
from typing import Any

import yaml
from tests.attacks._cli import warden_cli
from tests.server.conftest import Live
from tests.service._acme_tree import acme_copy

from warden.errors import WardenError
from warden.schemas.runbook import RunbookDefinition
from warden.store import approvals

REPO = Path(__file__).resolve().parents[2]
ROOT_RUNBOOK = REPO / "runbooks" / "privacy-policy-review.yaml"


_warden = warden_cli


def _edited(**changes: Any) -> RunbookDefinition:
    data = copy.deepcopy(yaml.safe_load(ROOT_RUNBOOK.read_text()))
    data.update(changes)
    return RunbookDefinition.model_validate(data)


def test_an_edit_cannot_publish_itself_as_another_runbooks_approved_version(tmp_path: Path) -> None:
    """Dora (dpo) approves Ana's privacy-policy-review run with an edit whose `runbook:` is
    `dsar-triage` and `version: 99`. The edit passes the guard and is recorded as version 99
    of dsar-triage: the tenant's history of a runbook nobody requested now ends with content
    that never ran as dsar-triage, and the next dsar-triage draft is reviewed against it
    (`previous_version`, `diff`, `change_summary`): the same content shows as "no change".
    An edit changes the steps and caps of the draft under review, not which runbook it is."""
    acme = acme_copy(tmp_path / "acme")
    service = acme.service()
    ana, dora = service.principal("ana@acme", writing=True), service.principal("dora@acme")
    root = service.start(ana, acme.notice, tenant="acme").root_run_id
    renamed = _edited(runbook="dsar-triage", version=99)
    with contextlib.suppress(WardenError):  # refused: secure (the run still waits)
        service.decide(dora, root, "approve", role="dpo", edited_runbook=renamed)
    with service.store.connect(read_only=True) as con:
        published = approvals.versions_of(con, "acme", "dsar-triage")
    assert published == [], [(v["runbook"], v["declared_version"], v["approved_by"]) for v in published]


def test_the_edit_report_does_not_reveal_another_tenants_systems(tmp_path: Path) -> None:
    """Dora (Acme's DPO) checks edits of a waiting Acme run on the review page (the service's
    `check_edit`, which the page's save calls; `claim_decision` lists the same issues). Naming
    `system: globex-hr` answers "system 'globex-hr' belongs to tenant 'globex'", a made-up id
    "is not in any tenant's inventory": guessing ids enumerates Globex's inventory and tenant
    names, which `policy show` and every other Acme view keep hidden. Both must read alike
    and name no other tenant."""
    acme = acme_copy(tmp_path / "acme")
    service = acme.service()
    ana, dora = service.principal("ana@acme", writing=True), service.principal("dora@acme")
    root = service.start(ana, acme.notice, tenant="acme").root_run_id
    base = yaml.safe_load(ROOT_RUNBOOK.read_text())

    def said(system: str) -> list[tuple[str, str]]:
        data = copy.deepcopy(base)
        data["steps"].append({"id": "probe", "analyser": "personal_data_scan", "system": system})
        report = service.check_edit(dora, root, yaml.safe_dump(data, sort_keys=False))
        return [(i.code, i.message.replace(system, "ID")) for i in report.issues if i.severity == "error"]

    elsewhere, nowhere = said("globex-hr"), said("no-such-system")
    assert elsewhere, "an Acme edit naming Globex's system passed the guard"
    assert "globex" not in repr(elsewhere).lower(), elsewhere
    assert elsewhere == nowhere, (elsewhere, nowhere)


def test_an_edit_with_a_nan_in_its_config_is_refused_when_decided(live: Live) -> None:
    """The API takes the edited runbook as a JSON object, and Python's JSON reads `NaN`. Put in
    policy_practices' `min_confidence` (a number from 0 to 1), NaN passes the JSON Schema's
    bounds in `claim_decision`, which claims the run and answers 200 `running`; the graph then
    re-reads the decision (NaN dumped as null), its guard fails `schema`, `approval_refused` is
    audited and the run waits again: the approver was told the edit was approved. The check at
    claim time must be the graph's: refuse non-finite numbers with a coded 4xx."""
    run = live.waiting_run()
    data = yaml.safe_load(ROOT_RUNBOOK.read_text())
    data["steps"][0]["config"] = {"min_confidence": 0.5}
    body = json.dumps({"decision": "edit", "role": "dpo", "runbook": data}).replace("0.5", "NaN")
    with live.client("dora@acme") as c:
        r = c.post(f"/api/runs/{run}/decision", content=body, headers={"content-type": "application/json"})
        nodes = live.settle("dora@acme", run)
    assert nodes[0]["status"] == "waiting_approval", nodes  # the edit was not carried out ...
    assert r.status_code in (409, 422), (r.status_code, r.text[:300])  # ... and must not be acknowledged


HOSTILE = {
    "bad-utf8.yaml": b'runbook: x\nversion: 1\ndescription: "\xff\xfe"\n',
    "tag.yaml": b"runbook: !!python/object/apply:os.system ['echo hi']\n",
    "deep.yaml": b"a: " + b"[" * 3000 + b"]" * 3000 + b"\n",
    "dup.yaml": ROOT_RUNBOOK.read_bytes() + b"\nrunbook: evil\n",
}


def test_hostile_edit_files_on_the_cli_get_coded_errors(tmp_path: Path) -> None:
    """`warden approve RUN --runbook FILE` with non-UTF-8, python tags, deep nesting, duplicate
    keys, a folder or /dev/zero: exit 1 with a coded error, never a traceback or exit 70; the
    run still waits."""
    acme = acme_copy(tmp_path / "acme")
    service = acme.service()
    ana = service.principal("ana@acme", writing=True)
    root = service.start(ana, acme.notice, tenant="acme").root_run_id
    paths = []
    for name, body in HOSTILE.items():
        (tmp_path / name).write_bytes(body)
        paths.append(str(tmp_path / name))
    (tmp_path / "folder").mkdir()
    for path in [*paths, str(tmp_path / "folder"), "/dev/zero"]:
        done = _warden(
            acme.home, acme.policy, "approve", root, "--as", "dora@acme", "--role", "dpo", "--runbook", path
        )
        assert done.returncode == 1, (path, done.returncode, done.stderr[-500:])
        assert "Traceback" not in done.stderr and "error (" in done.stderr, (path, done.stderr[-500:])


# --- Attacks tried that held (service over a private Acme copy, the live server, the CLI) ------
#
# - Hostile edit files through `warden approve RUN --runbook FILE` (local): non-UTF-8 (encoding),
#   an anchors/aliases bomb (too_many_nodes), 3000-deep nesting (too_deep), a python tag, a
#   duplicate `runbook:` key, a folder and /dev/zero (load_error): exit 1, no traceback. The
#   review page's edit form with invalid UTF-8 bytes in the urlencoded body: 422, the page.
# - API edits as a JSON object: `NaN` in `limits.max_cost_usd` (422 schema); a 20,000-entry
#   `cites` list is bounded by the body limit on the API and the 2 MB file limit on the CLI.
# - Self-approval through an edit: dora requests and approves her own run with an edit
#   (refused: the policy forbids self-approval; the gate runs before the edit is validated).
# - An edit inlining a child (`execute_workflow` as a runbook) with an approval: the child
#   still waits for its own human approval (`ROOT.checks` waiting); one whose analyser
#   contract does not fit is refused (contract_mismatch, edit_refused).
# - Caps: a root edit raising its own max_depth (2 -> 3) and its child step's limits
#   ({1, $2} -> {2, $5}) stays within the policy's caps (3, $5) and is the approver's call;
#   the child's review then shows those caps as `parent_limits`. Raising past the policy, a
#   child's edit past its parent's caps, another tenant, another tenant's system, an unknown
#   analyser and a lowered role are refused (already covered by
#   tests/attacks/test_attacks_across_entry_points.py and tests/attacks/test_attacks_planner.py).
# - Analyser config cannot smuggle paths: every analyser's config schema is closed
#   (additionalProperties: false) with no path-valued keys; `check_paths` covers the rest.
