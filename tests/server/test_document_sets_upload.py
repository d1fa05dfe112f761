"""Document sets through the server (issue 18): several `file` parts of one upload (the API's
POST /api/runs and the upload page) are one notice; the refusal of any one stores none."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
from tests.server.conftest import PASSWORD, REPO, Live

PRODUCT = REPO / "fixtures" / "transparency" / "lumen_notes_product_notice.md"
MAIN = REPO / "fixtures" / "transparency" / "sets" / "lumen-privacy-statement.md"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _uploads(live: Live) -> list[Path]:
    folder = live.home / "uploads"
    return sorted(folder.rglob("*")) if folder.exists() else []


def _files(*paths: Path) -> list[tuple[str, tuple[str, bytes]]]:
    return [("file", (p.name, p.read_bytes())) for p in paths]


def _transparency(live: Live, run_id: str) -> dict:
    rows = live.service.store.query(
        "SELECT output_json FROM steps WHERE run_id = ? AND step_id = 'transparency'", [run_id]
    )
    return json.loads(rows[0]["output_json"])


def test_two_files_of_one_upload_are_one_notice(live: Live) -> None:
    with live.client("ana@acme") as ana, live.client("dora@acme") as dora:
        r = ana.post("/api/runs", data={"tenant": "acme"}, files=_files(PRODUCT, MAIN))
        assert r.status_code == 202, r.text
        root = r.json()["run_id"]
        live.settle("ana@acme", root)
        (summary,) = [s for s in ana.get("/api/runs").json() if s["run_id"] == root]
        assert summary["document"].endswith(" (+1)")
        documents = dora.get(f"/api/runs/{root}").json()["approval"]["documents"]
        names = sorted(d["name"].split("--", 1)[1] for d in documents)
        assert names == sorted([PRODUCT.name, MAIN.name])

        decided = dora.post(f"/api/runs/{root}/decision", json={"decision": "approve", "role": "dpo"})
        assert decided.status_code == 200, decided.text
        live.settle("dora@acme", root)
        report = _transparency(live, root)
        assert len(report["documents"]) == 2
        items = {i["item"]: i for i in report["items"]}
        assert {i["status"] for i in items.values()} == {"present", "not_applicable"}
        (cited,) = items["right_access"]["documents"]
        assert cited.endswith("--" + MAIN.name)
        findings = ana.get(f"/api/runs/{root}/findings").json()
        assert not [f for f in findings if f["code"].startswith("gdpr.")]
        child = f"{root}.checks"
        out = ana.post(f"/api/runs/{child}/cancel", json={"reason": "test over"})
        assert out.status_code in (200, 202), out.text


def test_one_file_still_starts_a_run_of_that_document_alone(live: Live) -> None:
    with live.client("ana@acme") as ana:
        r = ana.post(
            "/api/runs", data={"tenant": "acme"}, files={"file": (PRODUCT.name, PRODUCT.read_bytes())}
        )
        assert r.status_code == 202, r.text
        root = r.json()["run_id"]
        live.settle("ana@acme", root)
        (summary,) = [s for s in ana.get("/api/runs").json() if s["run_id"] == root]
        assert summary["document"].endswith("--" + PRODUCT.name)
        assert ana.post(f"/api/runs/{root}/cancel", json={"reason": "test over"}).status_code in (200, 202)


def test_one_refused_file_refuses_the_set_and_stores_none(live: Live) -> None:
    before = _uploads(live)
    with live.client("ana@acme") as ana:
        runs_before = len(ana.get("/api/runs").json())
        bad = ana.post(
            "/api/runs", data={"tenant": "acme"}, files=[*_files(PRODUCT), ("file", ("main.pdf", PNG))]
        )
        assert bad.status_code == 415 and bad.json()["error"]["code"] == "upload_type"
        assert bad.json()["error"]["fix"]
        assert len(ana.get("/api/runs").json()) == runs_before
    assert _uploads(live) == before


def _signed_in(client: httpx.Client, user: str) -> str:
    """Sign in through the form; the CSRF token of the session's upload page."""
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/sign-in").text)
    assert token
    client.post("/sign-in", data={"user": user, "password": PASSWORD, "csrf_token": token[1]})
    page = client.get("/upload")
    assert page.status_code == 200 and 'name="file"' in page.text and "multiple" in page.text
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found
    return found[1]


def test_the_upload_page_takes_several_files_as_one_notice(live: Live) -> None:
    with httpx.Client(base_url=live.url, timeout=60) as page:
        csrf = _signed_in(page, "ana@acme")
        r = page.post("/upload", data={"csrf_token": csrf, "tenant": "acme"}, files=_files(PRODUCT, MAIN))
        assert r.status_code == 303, r.text
        root = r.headers["location"].rsplit("/", 1)[1]
    live.settle("ana@acme", root)
    with live.client("ana@acme") as ana:
        (summary,) = [s for s in ana.get("/api/runs").json() if s["run_id"] == root]
        assert summary["document"].endswith(" (+1)")
        assert ana.post(f"/api/runs/{root}/cancel", json={"reason": "test over"}).status_code in (200, 202)


def test_the_cli_as_a_client_uploads_a_set_as_one_run(live: Live, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from warden.cli import app

    env = {
        "WARDEN_SERVER": live.url,
        "WARDEN_TOKEN": live.tokens["ana@acme"],
        "WARDEN_HOME": str(tmp_path / "not-used"),
        "WARDEN_USER": None,
        "WARDEN_POLICY": None,
        "NO_COLOR": "1",
    }
    args = ["analyse", str(PRODUCT), str(MAIN), "--tenant", "acme", "--json"]
    result = CliRunner(env=env).invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    (started,) = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    with live.client("ana@acme") as ana:
        (summary,) = [s for s in ana.get("/api/runs").json() if s["run_id"] == started["run_id"]]
        assert summary["document"].endswith(" (+1)")
        assert ana.post(
            f"/api/runs/{started['run_id']}/cancel", json={"reason": "test over"}
        ).status_code in (
            200,
            202,
        )
