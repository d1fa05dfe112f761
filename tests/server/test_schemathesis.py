"""schemathesis against the live server's /openapi.json, with a valid token: no route answers
500 to any generated request (a bounded number of examples per operation)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tests.server.conftest import Live


def test_openapi_document_has_the_api_routes_and_response_models(live: Live) -> None:
    import httpx

    doc = httpx.get(f"{live.url}/openapi.json").json()
    paths = doc["paths"]
    for path in ("/api/tokens", "/api/runs", "/api/runs/{run_id}", "/api/runs/{run_id}/decision"):
        assert path in paths
    assert "/api/runs/{run_id}/findings" in paths
    ok = paths["/api/runs/{run_id}"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/RunDetail"}
    assert "404" in paths["/api/runs/{run_id}"]["get"]["responses"]


def test_schemathesis_finds_no_server_error(live: Live, tmp_path: Path) -> None:
    exe = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("schemathesis is not installed (pip install -e '.[dev]')")
    run = live.waiting_run()
    done = subprocess.run(
        [
            exe,
            "run",
            f"{live.url}/openapi.json",
            "--checks",
            "not_a_server_error",
            "--max-examples",
            "12",
            "--seed",
            "16",
            "--header",
            f"Authorization: Bearer {live.tokens['dora@acme']}",
            "--no-color",
            "--suppress-health-check",
            "all",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert "Loaded specification" in output and " passed" in output, output[-4000:]
    assert "failed" not in output.split("Seed:")[0].lower().replace("0 failed", ""), output[-4000:]
    assert run
